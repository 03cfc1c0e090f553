import {
  createCipheriv,
  createPrivateKey,
  pbkdf2Sync,
  randomBytes,
  X509Certificate,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';
import type { Issued, OpensslCorpus } from './opensslCorpus';

/*
 * PKCS#12 files with chosen iteration counts and layouts, for the limits on
 * key derivation. A count as large as 2^31 cannot be made by running the
 * KDF: files are made with small counts, and the INTEGERs are rewritten in
 * the DER (the MAC and the encrypted parts then no longer verify, which does
 * not matter to a file that must be refused before any key is derived).
 */

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;

const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSha256: '1.2.840.113549.2.9',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  pkcs12PbePrefix: '1.2.840.113549.1.12.1.',
};

const U = asn1.Class.UNIVERSAL;
const seq = (...children: Asn1[]) =>
  asn1.create(U, asn1.Type.SEQUENCE, true, children);
const oid = (value: string) =>
  asn1.create(U, asn1.Type.OID, false, asn1.oidToDer(value).getBytes());
const octets = (bytes: Buffer | string) =>
  asn1.create(
    U,
    asn1.Type.OCTETSTRING,
    false,
    typeof bytes === 'string' ? bytes : bytes.toString('binary'),
  );
const explicit0 = (child: Asn1) =>
  asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [child]);

/** An INTEGER node of any value, two's complement, minimal length. */
export function integer(value: bigint): Asn1 {
  const bytes: number[] = [];
  let rest = value;
  for (;;) {
    bytes.unshift(Number(BigInt.asUintN(8, rest)));
    rest >>= 8n;
    const sign = bytes[0] & 0x80;
    if ((rest === 0n && !sign) || (rest === -1n && sign)) break;
  }
  return asn1.create(
    U,
    asn1.Type.INTEGER,
    false,
    String.fromCharCode(...bytes),
  );
}

const toDer = (node: Asn1) => asn1.toDer(node).getBytes();

const isOid = (node: Asn1 | undefined, test: (oid: string) => boolean) =>
  node?.tagClass === U &&
  node.type === asn1.Type.OID &&
  typeof node.value === 'string' &&
  test(asn1.derToOid(node.value));

/**
 * Sets the iteration count of every password-based encryption algorithm in
 * the tree (PBES2's PBKDF2 and PKCS#12 PBE), looking into OCTET STRINGs
 * that hold DER (the authSafe and its SafeContents).
 */
function rewriteEncryptionCounts(node: Asn1, count: bigint): Asn1 {
  if (!Array.isArray(node.value)) {
    if (
      node.tagClass === U &&
      node.type === asn1.Type.OCTETSTRING &&
      typeof node.value === 'string'
    ) {
      let inner: Asn1 | undefined;
      try {
        inner = asn1.fromDer(node.value, true);
      } catch {
        inner = undefined;
      }
      if (inner && Array.isArray(inner.value)) {
        node.value = toDer(rewriteEncryptionCounts(inner, count));
      }
    }
    return node;
  }
  const children = node.value as Asn1[];
  if (isOid(children[0], o => o === OID.pbes2)) {
    const kdfParams = ((children[1].value as Asn1[])[0].value as Asn1[])[1]
      .value as Asn1[];
    kdfParams[1] = integer(count);
  } else if (isOid(children[0], o => o.startsWith(OID.pkcs12PbePrefix))) {
    (children[1].value as Asn1[])[1] = integer(count);
  } else {
    children.forEach(child => rewriteEncryptionCounts(child, count));
  }
  return node;
}

/**
 * A copy of a PKCS#12 file with `count` iterations for its MAC (`mac`) and
 * for each password-based encryption in its plaintext structure
 * (`encryption`: of the certificates' part and of the key bag).
 */
export function withIterationCounts(
  p12: Buffer,
  count: bigint,
  which: { mac?: boolean; encryption?: boolean },
): Buffer {
  const pfx = asn1.fromDer(p12.toString('binary'));
  const [, authSafe, macData] = pfx.value as Asn1[];
  if (which.mac) (macData.value as Asn1[])[2] = integer(count);
  if (which.encryption) rewriteEncryptionCounts(authSafe, count);
  return Buffer.from(toDer(pfx), 'binary');
}

/** A copy of a PKCS#12 file whose encrypted part (the certificates) is repeated `times` in all. */
export function withEncryptedPartRepeated(p12: Buffer, times: number): Buffer {
  const pfx = asn1.fromDer(p12.toString('binary'));
  const authSafeOctets = (
    ((pfx.value as Asn1[])[1].value as Asn1[])[1].value as Asn1[]
  )[0];
  const contentInfos = asn1.fromDer(authSafeOctets.value as string);
  const parts = contentInfos.value as Asn1[];
  const encrypted = parts.find(part =>
    isOid((part.value as Asn1[])[0], o => o === OID.encryptedData),
  )!;
  for (let i = 1; i < times; i++) parts.push(encrypted);
  authSafeOctets.value = toDer(contentInfos);
  return Buffer.from(toDer(pfx), 'binary');
}

/** A PKCS#12 file from the openssl CLI with more `pkcs12 -export` arguments (e.g. `-iter`, `-legacy`). */
export function opensslPkcs12(
  corpus: OpensslCorpus,
  leaf: Issued,
  password: string,
  args: string[],
): Buffer {
  const out = join(corpus.dir, `${randomBytes(6).toString('hex')}.p12`);
  corpus.openssl([
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
    ...args,
  ]);
  return readFileSync(out);
}

/**
 * A PKCS#12 file, without MAC, whose key bag is inside the encrypted part
 * (with the certificate), not in a plaintext one as OpenSSL writes it: its
 * count (`keyIterations`) can only be seen once that part is decrypted. The
 * part is encrypted with PBES2 (PBKDF2-SHA256, 2048 iterations, AES-256-CBC).
 */
export function nestedKeyPkcs12(
  leaf: Issued,
  password: string,
  keyIterations: bigint,
): Buffer {
  const pkcs8 = createPrivateKey(leaf.key).export({
    type: 'pkcs8',
    format: 'der',
  });
  const shrouded = forge.pki.encryptPrivateKeyInfo(
    asn1.fromDer(pkcs8.toString('binary')),
    password,
    { algorithm: 'aes256', count: 2048 },
  );
  rewriteEncryptionCounts(shrouded, keyIterations);
  const certDer = new X509Certificate(leaf.cert).raw;
  const safeContents = seq(
    seq(oid(OID.pkcs8ShroudedKeyBag), explicit0(shrouded)),
    seq(
      oid(OID.certBag),
      explicit0(seq(oid(OID.x509Certificate), explicit0(octets(certDer)))),
    ),
  );

  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = pbkdf2Sync(password, salt, 2048, 32, 'sha256');
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const encrypted = Buffer.concat([
    cipher.update(Buffer.from(toDer(safeContents), 'binary')),
    cipher.final(),
  ]);
  const algorithm = seq(
    oid(OID.pbes2),
    seq(
      seq(
        oid(OID.pbkdf2),
        seq(
          octets(salt),
          integer(2048n),
          seq(
            oid(OID.hmacWithSha256),
            asn1.create(U, asn1.Type.NULL, false, ''),
          ),
        ),
      ),
      seq(oid(OID.aes256Cbc), octets(iv)),
    ),
  );
  const encryptedData = seq(
    integer(0n),
    seq(
      oid(OID.data),
      algorithm,
      asn1.create(
        asn1.Class.CONTEXT_SPECIFIC,
        0,
        false,
        encrypted.toString('binary'),
      ),
    ),
  );
  const authenticatedSafe = seq(
    seq(oid(OID.encryptedData), explicit0(encryptedData)),
  );
  const pfx = seq(
    integer(3n),
    seq(oid(OID.data), explicit0(octets(toDer(authenticatedSafe)))),
  );
  return Buffer.from(toDer(pfx), 'binary');
}
