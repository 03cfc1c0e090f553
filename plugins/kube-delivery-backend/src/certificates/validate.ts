import { KeyObject, X509Certificate, createPrivateKey } from 'node:crypto';
import { InputError } from '@backstage/errors';
import { readPkcs12 } from './pkcs12';

/** A certificate upload, as PEM text or as a PKCS#12 (.p12/.pfx) file. */
export type CertificateUploadInput =
  | { format: 'pem'; certificateChain: string; privateKey: string }
  | { format: 'pkcs12'; data: Buffer | string; password: string };

export interface CertificateValidationOptions {
  /** The gateway's hosts; every one must be covered by a DNS SAN of the leaf. */
  hosts: string[];
  /** The time to check validity against; defaults to the current time. */
  now?: Date;
  /** A certificate expiring within this many days is accepted with a warning. */
  expiryWarningDays: number;
}

/** Public facts about an uploaded certificate. Never contains key material. */
export interface CertificateMetadata {
  subject: string;
  issuer: string;
  serialNumber: string;
  sans: string[];
  validFrom: string;
  validTo: string;
  /**
   * When the served chain stops working: the earliest validTo of the leaf and
   * every certificate after it (an intermediate may expire before the leaf).
   */
  chainValidTo: string;
  fingerprintSha256: string;
  keyType: 'rsa' | 'ec';
  keyBits?: number;
  curve?: 'P-256' | 'P-384' | 'P-521';
}

export interface ValidatedCertificate {
  leafPem: string;
  /** The leaf first, then the intermediates (and the root if it was uploaded). */
  chainPem: string;
  /** The private key as unencrypted PKCS#8 PEM. */
  keyPem: string;
  metadata: CertificateMetadata;
  warnings: string[];
}

/** Size cap for each PEM field and for a PKCS#12 file. */
export const MAX_CERTIFICATE_INPUT_BYTES = 64 * 1024;
/** At most this many certificates in a chain. */
export const MAX_CHAIN_LENGTH = 10;
export const MIN_RSA_BITS = 2048;

const CURVES: Record<string, 'P-256' | 'P-384' | 'P-521'> = {
  prime256v1: 'P-256',
  secp384r1: 'P-384',
  secp521r1: 'P-521',
};
const KEY_LABELS = new Set([
  'PRIVATE KEY',
  'RSA PRIVATE KEY',
  'EC PRIVATE KEY',
]);
const DAY_MS = 24 * 60 * 60 * 1000;
const KIB = MAX_CERTIFICATE_INPUT_BYTES / 1024;

interface PemBlock {
  label: string;
  /** The whole block, BEGIN to END line. */
  text: string;
  /** Header lines such as Proc-Type (legacy encrypted keys). */
  headers: string;
}

function parsePemBlocks(text: string): PemBlock[] | undefined {
  const blocks: PemBlock[] = [];
  const re =
    /-----BEGIN ([A-Z0-9 ]{1,40})-----\r?\n((?:[A-Za-z-]+:[^\r\n]*\r?\n)*)[\s\S]*?-----END \1-----/g;
  for (const match of text.matchAll(re)) {
    blocks.push({ label: match[1], text: match[0], headers: match[2] });
  }
  const begins = text.match(/-----BEGIN /g)?.length ?? 0;
  const ends = text.match(/-----END /g)?.length ?? 0;
  if (begins !== blocks.length || ends !== blocks.length) return undefined;
  return blocks;
}

function tooLarge(what: string): InputError {
  return new InputError(
    `The ${what} is larger than ${KIB} KiB. Upload only the server certificate, its ` +
      'intermediates and its key, not a whole CA bundle.',
  );
}

function checkSize(value: string | Buffer, what: string) {
  const bytes =
    typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : value.length;
  if (bytes > MAX_CERTIFICATE_INPUT_BYTES) throw tooLarge(what);
}

/** The PEM blocks of a pasted field: an InputError saying `empty` without text, `notPem` without blocks. */
function pastedPemBlocks(
  text: string,
  empty: string,
  notPem: string,
): PemBlock[] {
  if (text.trim() === '') throw new InputError(empty);
  const blocks = parsePemBlocks(text);
  if (!blocks || blocks.length === 0) throw new InputError(notPem);
  return blocks;
}

function parseCertificateChain(text: string): X509Certificate[] {
  const blocks = pastedPemBlocks(
    text,
    'The certificate chain is empty. Paste the PEM certificate, starting with ' +
      '-----BEGIN CERTIFICATE-----, followed by its intermediates.',
    'The certificate chain is not valid PEM: expected one or more ' +
      '-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE----- blocks.',
  );
  for (const block of blocks) {
    if (block.label.includes('PRIVATE KEY')) {
      throw new InputError(
        'The certificate chain contains a private key. Put the key in the private key ' +
          'field only, and only certificates in the chain.',
      );
    }
    if (block.label !== 'CERTIFICATE') {
      throw new InputError(
        `The certificate chain contains a "${block.label}" block; only CERTIFICATE ` +
          'blocks are accepted.',
      );
    }
  }
  if (blocks.length > MAX_CHAIN_LENGTH) {
    throw new InputError(
      `The certificate chain has ${blocks.length} certificates; at most ` +
        `${MAX_CHAIN_LENGTH} are accepted. Upload the leaf and its intermediates only.`,
    );
  }
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block.text);
    } catch {
      throw new InputError(
        `Certificate ${index + 1} of the chain could not be parsed as X.509. ` +
          'Check that it was copied completely.',
      );
    }
  });
}

function encryptedKeyError(): InputError {
  return new InputError(
    'The private key is encrypted with a passphrase. Upload it unencrypted, e.g. ' +
      '`openssl pkey -in key.pem -out key-plain.pem`, or upload a PKCS#12 file with its password.',
  );
}

function parsePrivateKey(text: string): KeyObject {
  const blocks = pastedPemBlocks(
    text,
    'The private key is empty. Paste the PEM key, starting with -----BEGIN PRIVATE KEY-----.',
    'The private key is not valid PEM: expected one -----BEGIN PRIVATE KEY----- ' +
      '(or RSA/EC PRIVATE KEY) block.',
  );
  if (blocks.some(block => block.label === 'ENCRYPTED PRIVATE KEY')) {
    throw encryptedKeyError();
  }
  const keyBlocks = blocks.filter(block => KEY_LABELS.has(block.label));
  if (keyBlocks.length !== 1 || blocks.length !== 1) {
    throw new InputError(
      'The private key field must contain exactly one PRIVATE KEY, RSA PRIVATE KEY or ' +
        'EC PRIVATE KEY block and nothing else (certificates go in the chain).',
    );
  }
  if (/ENCRYPTED/i.test(keyBlocks[0].headers)) {
    throw encryptedKeyError();
  }
  return keyFromPem(keyBlocks[0].text);
}

function keyFromPem(pem: string): KeyObject {
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_MISSING_PASSPHRASE') {
      throw encryptedKeyError();
    }
    throw new InputError(
      'The private key could not be parsed. Check that it was copied completely.',
    );
  }
}

function describeKey(
  key: KeyObject,
): Pick<CertificateMetadata, 'keyType' | 'keyBits' | 'curve'> {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) {
      throw new InputError(
        `The RSA key has ${bits} bits; at least ${MIN_RSA_BITS} are required. ` +
          'Issue a new certificate with a 2048-bit (or larger) RSA key or an EC P-256 key.',
      );
    }
    return { keyType: 'rsa', keyBits: bits };
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = CURVES[details.namedCurve ?? ''];
    if (!curve) {
      throw new InputError(
        `The EC key uses curve ${
          details.namedCurve ?? 'unknown'
        }; only P-256, P-384 and ` +
          'P-521 are accepted. Issue a new certificate on one of those curves.',
      );
    }
    return { keyType: 'ec', curve };
  }
  throw new InputError(
    `The private key type ${
      key.asymmetricKeyType ?? 'unknown'
    } is not supported; use ` +
      'RSA (2048 bits or more) or EC (P-256, P-384 or P-521).',
  );
}

/** DNS names from X509Certificate.subjectAltName ("DNS:a, DNS:b, IP Address:..."). */
export function dnsSans(cert: X509Certificate): string[] {
  const sans: string[] = [];
  const re = /(?:^|, )DNS:("(?:[^"\\]|\\.)*"|[^,]*)/g;
  for (const match of (cert.subjectAltName ?? '').matchAll(re)) {
    let name = match[1];
    if (name.startsWith('"')) {
      try {
        name = JSON.parse(name);
      } catch {
        continue;
      }
    }
    sans.push(name);
  }
  return sans;
}

function normalizeName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

/**
 * True when the DNS SAN covers the host. A wildcard SAN `*.example.com` covers exactly
 * one extra leftmost label (`a.example.com`), not `example.com` nor `a.b.example.com`.
 * A wildcard host is covered only by the same wildcard SAN.
 */
export function sanCoversHost(san: string, host: string): boolean {
  const s = normalizeName(san);
  const h = normalizeName(host);
  if (s === '' || h === '') return false;
  if (s === h) return true;
  if (!s.startsWith('*.') || h.startsWith('*.')) return false;
  const suffix = s.slice(2);
  // No wildcard on a bare TLD, nor partial or nested wildcards.
  if (!suffix.includes('.') || suffix.includes('*')) return false;
  const dot = h.indexOf('.');
  if (dot <= 0) return false;
  return h.slice(dot + 1) === suffix && !h.slice(0, dot).includes('*');
}

function ordinal(index: number): string {
  return index === 0 ? 'the leaf (certificate 1)' : `certificate ${index + 1}`;
}

function isIssuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function checkChain(chain: X509Certificate[]) {
  for (let i = 0; i + 1 < chain.length; i++) {
    if (isIssuedBy(chain[i], chain[i + 1])) continue;
    const elsewhere = chain.findIndex(
      (c, j) => j !== i && j !== i + 1 && isIssuedBy(chain[i], c),
    );
    if (elsewhere >= 0) {
      throw new InputError(
        `The certificate chain is out of order: ${ordinal(
          i,
        )} was issued by certificate ` +
          `${
            elsewhere + 1
          }, not by the certificate after it. Order the chain leaf first, ` +
          'then each certificate followed by the one that issued it.',
      );
    }
    throw new InputError(
      `The certificate chain is broken: ${ordinal(i)} (issuer "${oneLine(
        chain[i].issuer,
      )}") ` +
        `was not issued by certificate ${i + 2} ("${oneLine(
          chain[i + 1].subject,
        )}"). ` +
        'An intermediate certificate is probably missing; add it from your CA bundle.',
    );
  }
  for (let i = 1; i < chain.length; i++) {
    if (!chain[i].ca) {
      throw new InputError(
        `Certificate ${
          i + 1
        } of the chain is not a CA certificate, so it cannot issue ` +
          'the one before it. Only the leaf may be a non-CA certificate.',
      );
    }
  }
}

function oneLine(name: string): string {
  return name.split('\n').join(', ');
}

function checkValidity(
  chain: X509Certificate[],
  now: Date,
  expiryWarningDays: number,
  warnings: string[],
) {
  const leafTo = new Date(chain[0].validTo);
  chain.forEach((cert, index) => {
    const from = new Date(cert.validFrom);
    const to = new Date(cert.validTo);
    const who =
      index === 0 ? 'The certificate' : `Certificate ${index + 1} of the chain`;
    if (now.getTime() < from.getTime()) {
      throw new InputError(
        `${who} is not yet valid: it is valid from ${from.toISOString()}. ` +
          'Upload it after that date, or check the clock of the issuing system.',
      );
    }
    if (now.getTime() > to.getTime()) {
      throw new InputError(
        `${who} expired on ${to.toISOString()}. Renew it and upload the new one.`,
      );
    }
    const daysLeft = (to.getTime() - now.getTime()) / DAY_MS;
    if (daysLeft < expiryWarningDays) {
      const beforeLeaf =
        index > 0 && to.getTime() < leafTo.getTime()
          ? `, before the certificate itself (${leafTo.toISOString()}): HTTPS fails then`
          : '';
      const named = index === 0 ? who : `${who} (${oneLine(cert.subject)})`;
      warnings.push(
        `${named} expires in ${Math.max(0, Math.floor(daysLeft))} day(s), on ` +
          `${to.toISOString()}${beforeLeaf}. Plan its renewal.`,
      );
    }
  });
}

function readPkcs12Input(data: Buffer | string, password: string) {
  if (typeof password !== 'string') {
    throw new InputError(
      'The PKCS#12 password must be a string (empty if it has none).',
    );
  }
  let bytes: Buffer;
  if (Buffer.isBuffer(data)) {
    bytes = data;
  } else if (typeof data === 'string') {
    if (data.length > Math.ceil((MAX_CERTIFICATE_INPUT_BYTES * 4) / 3) + 4096) {
      throw tooLarge('PKCS#12 file');
    }
    const compact = data.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) {
      throw new InputError(
        'The PKCS#12 data must be the binary file or its base64 encoding.',
      );
    }
    bytes = Buffer.from(compact, 'base64');
  } else {
    throw new InputError(
      'The PKCS#12 data must be the binary file or its base64 encoding.',
    );
  }
  if (bytes.length === 0) {
    throw new InputError(
      'The PKCS#12 file is empty. Upload the .p12/.pfx file.',
    );
  }
  checkSize(bytes, 'PKCS#12 file');
  const contents = readPkcs12(bytes, password);
  const certs = contents.certificatesDer.map((der, index) => {
    try {
      return new X509Certificate(der);
    } catch {
      throw new InputError(
        `Certificate ${
          index + 1
        } in the PKCS#12 file could not be parsed as X.509.`,
      );
    }
  });
  if (certs.length > MAX_CHAIN_LENGTH) {
    throw new InputError(
      `The PKCS#12 file has ${certs.length} certificates; at most ${MAX_CHAIN_LENGTH} are accepted.`,
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({
      key: contents.privateKeyDer,
      format: 'der',
      type: 'pkcs8',
    });
  } catch {
    throw new InputError(
      'The private key in the PKCS#12 file could not be parsed.',
    );
  }
  return { chain: orderPkcs12Chain(certs, key), key };
}

/** PKCS#12 bags are unordered: leaf (the key's certificate) first, then each issuer. */
function orderPkcs12Chain(
  certs: X509Certificate[],
  key: KeyObject,
): X509Certificate[] {
  const leaf = certs.find(cert => safeCheckKey(cert, key));
  if (!leaf) {
    throw new InputError(
      'The private key in the PKCS#12 file does not belong to any of its certificates. ' +
        'Export it again with the matching key.',
    );
  }
  const ordered = [leaf];
  const rest = certs.filter(cert => cert !== leaf);
  for (;;) {
    const last = ordered[ordered.length - 1];
    const next = rest.findIndex(
      cert => cert !== last && isIssuedBy(last, cert),
    );
    if (next < 0) break;
    ordered.push(...rest.splice(next, 1));
  }
  // Anything left over is appended so that the chain check explains the problem.
  return [...ordered, ...rest];
}

function safeVerify(cert: X509Certificate, key: KeyObject): boolean {
  try {
    return cert.verify(key);
  } catch {
    return false;
  }
}

function safeCheckKey(cert: X509Certificate, key: KeyObject): boolean {
  try {
    return cert.checkPrivateKey(key);
  } catch {
    return false;
  }
}

/**
 * Checks a certificate upload before anything is written: parsing and size caps, the key
 * matches the leaf, the chain is in order, every certificate is valid now, the leaf's DNS
 * SANs cover every host, the leaf is not a CA, and the key is strong enough. Throws an
 * InputError that explains the problem and what to do; messages never contain key
 * material or the password.
 */
export function validateCertificateUpload(
  input: CertificateUploadInput,
  options: CertificateValidationOptions,
): ValidatedCertificate {
  if (!input || typeof input !== 'object') {
    throw new InputError('The certificate upload is empty.');
  }
  const now = options.now ?? new Date();
  const warnings: string[] = [];

  let chain: X509Certificate[];
  let key: KeyObject;
  if (input.format === 'pem') {
    if (
      typeof input.certificateChain !== 'string' ||
      typeof input.privateKey !== 'string'
    ) {
      throw new InputError(
        'Both the certificate chain and the private key are required, as PEM text.',
      );
    }
    checkSize(input.certificateChain, 'certificate chain');
    checkSize(input.privateKey, 'private key');
    chain = parseCertificateChain(input.certificateChain);
    key = parsePrivateKey(input.privateKey);
  } else if (input.format === 'pkcs12') {
    ({ chain, key } = readPkcs12Input(input.data, input.password));
  } else {
    throw new InputError('The certificate format must be "pem" or "pkcs12".');
  }

  const keyDescription = describeKey(key);
  const leaf = chain[0];
  if (!safeCheckKey(leaf, key)) {
    const other = chain.findIndex(cert => safeCheckKey(cert, key));
    throw new InputError(
      other > 0
        ? `The private key belongs to certificate ${
            other + 1
          } of the chain, not to the first. ` +
          'Put the server certificate first, followed by its intermediates.'
        : 'The private key does not match the certificate. Upload the key that was ' +
          'generated with this certificate’s signing request.',
    );
  }
  if (leaf.ca) {
    throw new InputError(
      'The first certificate is a CA certificate, not a server certificate. Put the ' +
        'server (leaf) certificate first; CA certificates only follow it.',
    );
  }
  checkChain(chain);
  checkValidity(chain, now, options.expiryWarningDays, warnings);

  const sans = dnsSans(leaf);
  const missing = options.hosts.filter(
    host => !sans.some(san => sanCoversHost(san, host)),
  );
  if (missing.length > 0) {
    throw new InputError(
      `The certificate does not cover ${
        missing.length === 1 ? 'host' : 'hosts'
      } ` +
        `${missing.join(', ')}. Its DNS names are: ${
          sans.length ? sans.join(', ') : '(none)'
        }. ` +
        'Issue a certificate whose subjectAltName lists every gateway host (a wildcard ' +
        '*.example.com covers a.example.com only, not example.com or a.b.example.com; the ' +
        'Common Name is not used).',
    );
  }
  if (
    chain.length === 1 &&
    leaf.subject === leaf.issuer &&
    safeVerify(leaf, leaf.publicKey)
  ) {
    warnings.push(
      'The certificate is self-signed: browsers and clients will not trust it unless ' +
        'they are configured to.',
    );
  }

  const chainPem = chain.map(cert => cert.toString()).join('');
  return {
    leafPem: leaf.toString(),
    chainPem,
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    metadata: {
      subject: oneLine(leaf.subject),
      issuer: oneLine(leaf.issuer),
      serialNumber: leaf.serialNumber,
      sans,
      validFrom: new Date(leaf.validFrom).toISOString(),
      validTo: new Date(leaf.validTo).toISOString(),
      chainValidTo: new Date(
        Math.min(...chain.map(cert => new Date(cert.validTo).getTime())),
      ).toISOString(),
      fingerprintSha256: leaf.fingerprint256,
      ...keyDescription,
    },
    warnings,
  };
}
