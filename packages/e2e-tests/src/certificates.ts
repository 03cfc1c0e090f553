import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

/** PEM files of a certificate and its key, as an operator has them on disk. */
export interface CertificateFiles {
  certificatePath: string;
  keyPath: string;
  remove(): void;
}

/**
 * A self-signed P-256 server certificate for `host`, valid for 90 days, made with
 * openssl at test time (Debian's openssl package; .ci/run installs it).
 */
export async function selfSignedCertificate(
  host: string,
): Promise<CertificateFiles> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kd-e2e-cert-'));
  const certificatePath = path.join(dir, `${host}.crt`);
  const keyPath = path.join(dir, `${host}.key`);
  try {
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '90',
      '-subj',
      `/CN=${host}`,
      '-addext',
      `subjectAltName=DNS:${host}`,
      // A server certificate, not the CA certificate `req -x509` makes by default.
      '-addext',
      'basicConstraints=critical,CA:FALSE',
      '-addext',
      'extendedKeyUsage=serverAuth',
      '-keyout',
      keyPath,
      '-out',
      certificatePath,
    ]);
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `openssl could not make a certificate (apt-get install openssl): ${
        (e as Error).message
      }`,
    );
  }
  return {
    certificatePath,
    keyPath,
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
