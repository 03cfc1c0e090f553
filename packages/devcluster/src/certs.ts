import * as fs from 'fs';
import * as path from 'path';
import { execOk } from './exec';

/**
 * Certificates for the cluster, made with the openssl CLI: a CA, a serving certificate for
 * 127.0.0.1/localhost (used by every component's secure port), client certificates for
 * the admin and each component, and the service-account signing key pair.
 */
export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  saKey: string;
  saPub: string;
  clients: Record<ClientName, { cert: string; key: string }>;
}

export type ClientName =
  | 'admin'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kwok'
  | 'front-proxy-client';

const CLIENT_SUBJECTS: Record<ClientName, string> = {
  admin: '/O=system:masters/CN=kube-delivery-admin',
  'kube-controller-manager': '/CN=system:kube-controller-manager',
  'kube-scheduler': '/CN=system:kube-scheduler',
  kwok: '/O=system:masters/CN=kwok-controller',
  // The aggregator's client identity (requestheader authentication).
  'front-proxy-client': '/CN=front-proxy-client',
};

export const SERVING_SANS = [
  'DNS:localhost',
  'DNS:kubernetes',
  'DNS:kubernetes.default',
  'DNS:kubernetes.default.svc',
  'DNS:kubernetes.default.svc.cluster.local',
  'IP:127.0.0.1',
  'IP:10.96.0.1',
];

export function pkiPaths(dir: string): Pki {
  const clients = {} as Pki['clients'];
  for (const name of Object.keys(CLIENT_SUBJECTS) as ClientName[]) {
    clients[name] = {
      cert: path.join(dir, `${name}.crt`),
      key: path.join(dir, `${name}.key`),
    };
  }
  return {
    dir,
    caCert: path.join(dir, 'ca.crt'),
    caKey: path.join(dir, 'ca.key'),
    servingCert: path.join(dir, 'serving.crt'),
    servingKey: path.join(dir, 'serving.key'),
    saKey: path.join(dir, 'sa.key'),
    saPub: path.join(dir, 'sa.pub'),
    clients,
  };
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];

async function signLeaf(
  pki: Pki,
  name: string,
  subject: string,
  extensions: string[],
  cert: string,
  key: string,
): Promise<void> {
  const csr = path.join(pki.dir, `${name}.csr`);
  const ext = path.join(pki.dir, `${name}.ext`);
  await execOk('openssl', [
    'req',
    '-new',
    ...EC_KEY,
    '-nodes',
    '-keyout',
    key,
    '-out',
    csr,
    '-subj',
    subject,
  ]);
  fs.writeFileSync(ext, `${extensions.join('\n')}\n`);
  await execOk('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    pki.caCert,
    '-CAkey',
    pki.caKey,
    '-CAcreateserial',
    '-out',
    cert,
    '-days',
    '825',
    '-sha256',
    '-extfile',
    ext,
  ]);
  fs.rmSync(csr);
  fs.rmSync(ext);
  fs.chmodSync(key, 0o600);
}

export async function generatePki(dir: string): Promise<Pki> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pki = pkiPaths(dir);
  await execOk('openssl', [
    'req',
    '-x509',
    ...EC_KEY,
    '-nodes',
    '-keyout',
    pki.caKey,
    '-out',
    pki.caCert,
    '-days',
    '3650',
    '-sha256',
    '-subj',
    '/CN=kube-delivery-devcluster-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  fs.chmodSync(pki.caKey, 0o600);
  await signLeaf(
    pki,
    'serving',
    '/CN=kube-apiserver',
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=${SERVING_SANS.join(',')}`,
    ],
    pki.servingCert,
    pki.servingKey,
  );
  for (const [name, subject] of Object.entries(CLIENT_SUBJECTS)) {
    await signLeaf(
      pki,
      name,
      subject,
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=clientAuth',
      ],
      pki.clients[name as ClientName].cert,
      pki.clients[name as ClientName].key,
    );
  }
  // Service-account token signing key (RS256).
  await execOk('openssl', [
    'genpkey',
    '-algorithm',
    'RSA',
    '-pkeyopt',
    'rsa_keygen_bits:2048',
    '-out',
    pki.saKey,
  ]);
  fs.chmodSync(pki.saKey, 0o600);
  await execOk('openssl', [
    'pkey',
    '-in',
    pki.saKey,
    '-pubout',
    '-out',
    pki.saPub,
  ]);
  return pki;
}

function b64(file: string): string {
  return fs.readFileSync(file).toString('base64');
}

/** A kubeconfig with embedded CA and client certificate. */
export function writeKubeconfig(
  file: string,
  options: {
    server: string;
    caCert: string;
    clientCert: string;
    clientKey: string;
    user: string;
  },
): void {
  const content = `apiVersion: v1
kind: Config
clusters:
- name: devcluster
  cluster:
    server: ${options.server}
    certificate-authority-data: ${b64(options.caCert)}
users:
- name: ${options.user}
  user:
    client-certificate-data: ${b64(options.clientCert)}
    client-key-data: ${b64(options.clientKey)}
contexts:
- name: devcluster
  context:
    cluster: devcluster
    user: ${options.user}
current-context: devcluster
`;
  fs.writeFileSync(file, content, { mode: 0o600 });
}
