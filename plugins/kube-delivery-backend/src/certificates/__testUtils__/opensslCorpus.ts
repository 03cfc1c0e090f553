import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/*
 * Test certificates generated at run time with the openssl CLI: CAs,
 * intermediates and leaves with chosen SANs, validity and key types, and
 * PKCS#12 bundles. Nothing is checked in.
 */

export interface Issued {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export type KeySpec =
  | 'ec:P-256'
  | 'ec:P-384'
  | 'ec:P-521'
  | 'ec:secp256k1'
  | `rsa:${number}`
  | 'ed25519'
  | 'rsa-pss';

export interface CertSpec {
  key?: KeySpec;
  sans?: string[];
  /** The issuing certificate, or 'self'; default: the corpus's `intermediate`. */
  issuer?: Issued | 'self';
  days?: number;
  kind?: 'leaf' | 'ca' | 'not-ca-issuer';
}

function keyArgs(spec: KeySpec): string[] {
  if (spec === 'ed25519') return ['-newkey', 'ed25519'];
  if (spec === 'rsa-pss')
    return ['-newkey', 'rsa-pss', '-pkeyopt', 'rsa_keygen_bits:2048'];
  const [type, param] = spec.split(':');
  return type === 'ec'
    ? ['-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${param}`]
    : ['-newkey', `rsa:${param}`];
}

function extensions(kind: CertSpec['kind'], sans: string[]): string {
  const lines = {
    ca: [
      'basicConstraints = critical, CA:TRUE',
      'keyUsage = critical, keyCertSign, cRLSign, digitalSignature',
    ],
    'not-ca-issuer': ['basicConstraints = CA:FALSE'],
    leaf: [
      'basicConstraints = critical, CA:FALSE',
      'keyUsage = critical, digitalSignature, keyEncipherment',
      'extendedKeyUsage = serverAuth',
    ],
  }[kind ?? 'leaf'];
  lines.push('subjectKeyIdentifier = hash');
  if (sans.length > 0) lines.push(`subjectAltName = ${sans.join(', ')}`);
  return lines.join('\n');
}

/** A directory of generated certificates; `certs` holds them by name. */
export class OpensslCorpus {
  readonly dir = mkdtempSync(join(tmpdir(), 'kd-certs-'));
  readonly certs: Record<string, Issued> = {};
  private counter = 0;

  openssl(args: string[]): Buffer {
    return execFileSync('openssl', args, {
      cwd: this.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  issue(name: string, spec: CertSpec): Issued {
    const id = `${++this.counter}-${name}`;
    const keyFile = join(this.dir, `${id}.key`);
    const certFile = join(this.dir, `${id}.crt`);
    const config = join(this.dir, `${id}.cnf`);
    const sans = (spec.sans ?? []).map(s => (s.includes(':') ? s : `DNS:${s}`));
    writeFileSync(
      config,
      `[req]\ndistinguished_name = dn\n[dn]\n[ext]\n${extensions(
        spec.kind,
        sans,
      )}\n`,
    );
    const days = String(spec.days ?? 365);
    const common = [
      '-nodes',
      '-keyout',
      keyFile,
      '-subj',
      `/CN=${name}`,
      '-config',
      config,
    ];
    if (spec.issuer === 'self') {
      this.openssl([
        'req',
        '-x509',
        '-new',
        ...keyArgs(spec.key ?? 'ec:P-256'),
        ...common,
        '-days',
        days,
        '-extensions',
        'ext',
        '-out',
        certFile,
      ]);
    } else {
      const issuer = spec.issuer ?? this.certs.intermediate;
      const csr = join(this.dir, `${id}.csr`);
      this.openssl([
        'req',
        '-new',
        ...keyArgs(spec.key ?? 'ec:P-256'),
        ...common,
        '-out',
        csr,
      ]);
      this.openssl([
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        issuer.certFile,
        '-CAkey',
        issuer.keyFile,
        '-set_serial',
        `0x${randomBytes(8).toString('hex')}`,
        '-days',
        days,
        '-extfile',
        config,
        '-extensions',
        'ext',
        '-out',
        certFile,
      ]);
    }
    const issued = {
      cert: readFileSync(certFile, 'utf8'),
      key: readFileSync(keyFile, 'utf8'),
      certFile,
      keyFile,
    };
    this.certs[name] = issued;
    return issued;
  }

  /** A PKCS#12 file of the leaf, its key and the given chain certificates. */
  pkcs12(leaf: Issued, chain: Issued[], password: string): Buffer {
    const out = join(this.dir, `${++this.counter}.p12`);
    const args = [
      'pkcs12',
      '-export',
      '-in',
      leaf.certFile,
      '-inkey',
      leaf.keyFile,
      '-passout',
      `pass:${password}`,
      '-out',
      out,
    ];
    if (chain.length) {
      const bundle = join(this.dir, `${this.counter}-bundle.pem`);
      writeFileSync(bundle, chain.map(c => c.cert).join(''));
      args.push('-certfile', bundle);
    }
    this.openssl(args);
    return readFileSync(out);
  }

  dispose() {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The lines of a PEM private key's body, each long enough to be a telling fragment. */
export function keyLines(keyPem: string): string[] {
  return keyPem
    .split(/\r?\n/)
    .filter(line => line.length >= 16 && !line.startsWith('-----'));
}
