import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A demo CA and a 90-day leaf for `hosts`, made with openssl in a temporary
 * directory that is removed before returning. The key goes to the caller
 * (the upload), never to a log or a lasting file.
 */
export async function generateDemoCertificate(
  hosts: string[],
): Promise<{ certificateChain: string; privateKey: string }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kd-demo-cert-'));
  const at = (file: string) => path.join(dir, file);
  const openssl = (args: string[]) => run('openssl', args, { cwd: dir });
  try {
    const ec = [
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
    ];
    await openssl([
      'req',
      '-x509',
      ...ec,
      '-keyout',
      at('ca.key'),
      '-out',
      at('ca.crt'),
      '-days',
      '365',
      '-subj',
      '/CN=Kube Delivery demo CA',
    ]);
    await openssl([
      'req',
      ...ec,
      '-keyout',
      at('tls.key'),
      '-out',
      at('tls.csr'),
      '-subj',
      `/CN=${hosts[0]}`,
    ]);
    await fs.writeFile(
      at('leaf.ext'),
      [
        'basicConstraints=CA:FALSE',
        'keyUsage=digitalSignature',
        'extendedKeyUsage=serverAuth',
        `subjectAltName=${hosts.map(h => `DNS:${h}`).join(',')}`,
      ].join('\n'),
    );
    await openssl([
      'x509',
      '-req',
      '-in',
      at('tls.csr'),
      '-CA',
      at('ca.crt'),
      '-CAkey',
      at('ca.key'),
      '-CAcreateserial',
      '-days',
      '90',
      '-extfile',
      at('leaf.ext'),
      '-out',
      at('tls.crt'),
    ]);
    const [leaf, ca, privateKey] = await Promise.all(
      ['tls.crt', 'ca.crt', 'tls.key'].map(f => fs.readFile(at(f), 'utf8')),
    );
    return { certificateChain: `${leaf}${ca}`, privateKey };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
