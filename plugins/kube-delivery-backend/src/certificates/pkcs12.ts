import { InputError } from '@backstage/errors';
// Node's crypto cannot read PKCS#12; node-forge can.
import forge from 'node-forge';

const { asn1, pki } = forge;
type Asn1 = forge.asn1.Asn1;

/**
 * The largest iteration count accepted for the MAC and for each password-based
 * encryption (PKCS#12 PBE or PBES2 with PBKDF2) of a PKCS#12 file. The file
 * chooses its counts, and node-forge derives keys in JavaScript (about 0.2 to
 * 2.7 s per 100,000 iterations here, by hash), so a count of 2^31 would hold
 * the backend's event loop for hours. Real tools stay far below: OpenSSL 3
 * uses 2048 for the MAC and PBKDF2, Windows 2000, Java's keytool 10,000 (Java
 * 11: 100,000 for the MAC, 50,000 for encryption); 100,000 leaves room for an
 * explicit `-iter 100000`.
 */
export const MAX_PKCS12_ITERATIONS = 100_000;

/**
 * The most iterations of key derivation one file may ask for in all, as a file
 * may hold any number of encrypted parts: three derivations at the cap. That
 * is what `openssl pkcs12 -export -iter 100000` writes (the MAC, and PBKDF2
 * for the certificates and for the key), and Java 11 keytool's defaults (the
 * MAC at 100,000, and PKCS#12 PBE at 50,000 for the key and the IV of each of
 * the two parts). At most about 1 to 8 s of key derivation per upload.
 */
export const MAX_PKCS12_TOTAL_ITERATIONS = 3 * MAX_PKCS12_ITERATIONS;

/** The DER contents of a PKCS#12 file: certificates in file order and the one key. */
export interface Pkcs12Contents {
  certificatesDer: Buffer[];
  privateKeyDer: Buffer;
}

const OIDS = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  pbeWithSha3DesCbc: '1.2.840.113549.1.12.1.3',
  pbeWithSha40BitRc2Cbc: '1.2.840.113549.1.12.1.6',
};

/** MAC digests node-forge implements, by OID. */
const MAC_DIGESTS: Record<string, () => forge.md.MessageDigest> = {
  '1.3.14.3.2.26': () => forge.md.sha1.create(),
  '2.16.840.1.101.3.4.2.1': () => forge.md.sha256.create(),
  '2.16.840.1.101.3.4.2.2': () => forge.md.sha384.create(),
  '2.16.840.1.101.3.4.2.3': () => forge.md.sha512.create(),
  '1.2.840.113549.2.5': () => forge.md.md5.create(),
};

/** The part of node-forge's PBE API that its type definitions leave out. */
const pbe = (
  pki as unknown as {
    pbe: {
      getCipher(
        oid: string,
        params: Asn1,
        password: string,
      ): {
        update(data: forge.util.ByteBuffer): void;
        finish(): boolean;
        output: forge.util.ByteBuffer;
      };
    };
  }
).pbe;

const EXPORT_AGAIN =
  "Export it again with your tool's default settings, e.g. `openssl pkcs12 -export -in chain.pem " +
  '-inkey key.pem -out bundle.p12` (OpenSSL 3 uses 2048 iterations).';

function notPkcs12(): InputError {
  return new InputError(
    'The PKCS#12 file could not be read: it is not DER-encoded PKCS#12 (.p12/.pfx). ' +
      'Upload the binary file itself, or its base64 encoding.',
  );
}

function cannotOpen(): InputError {
  return new InputError(
    'The PKCS#12 file could not be opened (wrong password, or an unsupported or ' +
      'corrupt file). Check the password, or export it again, e.g. ' +
      '`openssl pkcs12 -export -in chain.pem -inkey key.pem -out bundle.p12`.',
  );
}

function wrongPassword(): InputError {
  return new InputError(
    'The PKCS#12 password is wrong: the file could not be decrypted with it. ' +
      'Check the password you set when exporting the file.',
  );
}

function toDer(node: Asn1): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), 'binary');
}

function fromDer(bytes: string, strict: boolean): Asn1 {
  try {
    return asn1.fromDer(forge.util.createBuffer(bytes), strict);
  } catch {
    throw cannotOpen();
  }
}

function isUniversal(node: Asn1 | undefined, type: forge.asn1.Type): boolean {
  return (
    node !== undefined &&
    node.tagClass === asn1.Class.UNIVERSAL &&
    node.type === type
  );
}

/** The children of a SEQUENCE (or SET) of at least `min` elements. */
function elements(
  node: Asn1 | undefined,
  min: number,
  type: forge.asn1.Type = asn1.Type.SEQUENCE,
): Asn1[] {
  if (
    !isUniversal(node, type) ||
    !node!.constructed ||
    !Array.isArray(node!.value) ||
    node!.value.length < min
  ) {
    throw cannotOpen();
  }
  return node!.value as Asn1[];
}

function oidOf(node: Asn1 | undefined): string {
  if (!isUniversal(node, asn1.Type.OID) || typeof node!.value !== 'string') {
    throw cannotOpen();
  }
  return asn1.derToOid(node!.value);
}

/** The bytes of an OCTET STRING, also of a constructed (BER, chunked) one. */
function octets(node: Asn1 | undefined): string {
  if (!isUniversal(node, asn1.Type.OCTETSTRING)) throw cannotOpen();
  if (typeof node!.value === 'string') return node!.value;
  return (node!.value as Asn1[]).map(chunk => octets(chunk)).join('');
}

/** The single element of an `[0] EXPLICIT` wrapper. */
function explicit0(node: Asn1 | undefined): Asn1 {
  if (
    node === undefined ||
    node.tagClass !== asn1.Class.CONTEXT_SPECIFIC ||
    node.type !== 0 ||
    !Array.isArray(node.value) ||
    node.value.length !== 1
  ) {
    throw cannotOpen();
  }
  return node.value[0] as Asn1;
}

/** An INTEGER of any length, two's complement. */
function integerOf(node: Asn1 | undefined): bigint {
  if (
    !isUniversal(node, asn1.Type.INTEGER) ||
    typeof node!.value !== 'string' ||
    node!.value.length === 0
  ) {
    throw cannotOpen();
  }
  const bytes = node!.value;
  const unsigned = BigInt(`0x${forge.util.bytesToHex(bytes)}`);
  return bytes.charCodeAt(0) & 0x80
    ? unsigned - (1n << BigInt(bytes.length * 8))
    : unsigned;
}

/**
 * Counts the iterations of key derivation a file asks for, and refuses a
 * count above MAX_PKCS12_ITERATIONS or a sum above MAX_PKCS12_TOTAL_ITERATIONS
 * before any key is derived.
 */
class IterationBudget {
  private total = 0;

  spend(count: bigint, derivations: number, what: string): void {
    if (count < 1n || count > BigInt(MAX_PKCS12_ITERATIONS)) {
      const shown =
        count > BigInt(Number.MAX_SAFE_INTEGER)
          ? `more than ${Number.MAX_SAFE_INTEGER}`
          : String(count);
      throw new InputError(
        `The PKCS#12 file asks for ${shown} iterations of password key derivation for ` +
          `${what}; from 1 to ${MAX_PKCS12_ITERATIONS} are accepted. ${EXPORT_AGAIN}`,
      );
    }
    this.total += Number(count) * derivations;
    if (this.total > MAX_PKCS12_TOTAL_ITERATIONS) {
      throw new InputError(
        `The PKCS#12 file asks for more than ${MAX_PKCS12_TOTAL_ITERATIONS} iterations of ` +
          'password key derivation in all (its MAC and every encrypted part); at most ' +
          `${MAX_PKCS12_TOTAL_ITERATIONS} are accepted. ${EXPORT_AGAIN}`,
      );
    }
  }

  /**
   * Checks the iteration count of a password-based encryption algorithm
   * (an AlgorithmIdentifier) node-forge can decrypt, before it derives a key.
   */
  spendOnEncryption(algorithm: Asn1, what: string): void {
    const [oidNode, params] = elements(algorithm, 2);
    const oid = oidOf(oidNode);
    if (oid === OIDS.pbes2) {
      const [kdf] = elements(params, 2);
      const [kdfOid, kdfParams] = elements(kdf, 2);
      if (oidOf(kdfOid) !== OIDS.pbkdf2) throw unsupported(what);
      this.spend(integerOf(elements(kdfParams, 2)[1]), 1, what);
      return;
    }
    if (oid === OIDS.pbeWithSha3DesCbc || oid === OIDS.pbeWithSha40BitRc2Cbc) {
      // PKCS#12 PBE derives the key and the IV, each with the full count.
      this.spend(integerOf(elements(params, 2)[1]), 2, what);
      return;
    }
    throw unsupported(what);
  }
}

function unsupported(what: string): InputError {
  return new InputError(
    `The PKCS#12 file encrypts ${what} with an algorithm that is not supported; ` +
      'AES or 3DES with PBKDF2 (PBES2), and PKCS#12 3DES or RC2 are. Export it again, ' +
      'e.g. `openssl pkcs12 -export -in chain.pem -inkey key.pem -out bundle.p12`.',
  );
}

/** A SafeBag: its type and value, not yet decrypted. */
interface Bag {
  type: string;
  value: Asn1;
}

/** The bags of a SafeContents (DER), without decrypting any. */
function safeBags(safeContents: string): Bag[] {
  return elements(fromDer(safeContents, false), 0).map(bag => {
    const [type, value] = elements(bag, 2);
    return { type: oidOf(type), value: explicit0(value) };
  });
}

/**
 * Opens a PKCS#12 (.p12/.pfx) file. Errors never include the password or any
 * decrypted content.
 *
 * The structure is read first, and every iteration count in sight (the MAC's,
 * each encrypted part's, each plaintext key bag's) is checked before any key
 * is derived; a key bag inside an encrypted part is checked once that part is
 * decrypted, before its own key is derived.
 */
export function readPkcs12(data: Buffer, password: string): Pkcs12Contents {
  let pfx: Asn1;
  try {
    pfx = asn1.fromDer(forge.util.createBuffer(data.toString('binary')));
  } catch {
    throw notPkcs12();
  }
  if (!isUniversal(pfx, asn1.Type.SEQUENCE) || !Array.isArray(pfx.value)) {
    throw notPkcs12();
  }
  const [version, authSafe, macData] = elements(pfx, 2);
  if (integerOf(version) !== 3n) throw cannotOpen();
  // Only password integrity mode: the authSafe is data, not signedData.
  const [authSafeType, authSafeContent] = elements(authSafe, 2);
  if (oidOf(authSafeType) !== OIDS.data) throw cannotOpen();
  const authenticatedSafe = octets(explicit0(authSafeContent));

  const budget = new IterationBudget();
  let mac:
    | {
        digest: () => forge.md.MessageDigest;
        value: string;
        salt: string;
        count: number;
      }
    | undefined;
  if (macData) {
    const [digestInfo, salt, iterations] = elements(macData, 2);
    const [algorithm, value] = elements(digestInfo, 2);
    const digest = MAC_DIGESTS[oidOf(elements(algorithm, 1)[0])];
    if (!digest) throw cannotOpen();
    // RFC 7292: the iteration count defaults to 1.
    const count = iterations ? integerOf(iterations) : 1n;
    budget.spend(count, 1, 'its MAC');
    mac = {
      digest,
      value: octets(value),
      salt: octets(salt),
      count: Number(count),
    };
  }

  // The structure, with nothing decrypted: plaintext bags and encrypted parts.
  const plainBags: Bag[] = [];
  const encryptedParts: Array<{ algorithm: Asn1; content: string }> = [];
  for (const contentInfo of elements(fromDer(authenticatedSafe, false), 0)) {
    const [type, content] = elements(contentInfo, 2);
    const contentType = oidOf(type);
    if (contentType === OIDS.data) {
      plainBags.push(...safeBags(octets(explicit0(content))));
    } else if (contentType === OIDS.encryptedData) {
      // EncryptedData: version, EncryptedContentInfo.
      const [, encryptedContentInfo] = elements(explicit0(content), 2);
      const [innerType, algorithm, encrypted] = elements(
        encryptedContentInfo,
        3,
      );
      if (oidOf(innerType) !== OIDS.data) throw cannotOpen();
      // [0] IMPLICIT OCTET STRING: primitive, or constructed of chunks.
      if (
        encrypted.tagClass !== asn1.Class.CONTEXT_SPECIFIC ||
        encrypted.type !== 0
      ) {
        throw cannotOpen();
      }
      const encryptedBytes =
        typeof encrypted.value === 'string'
          ? encrypted.value
          : (encrypted.value as Asn1[]).map(chunk => octets(chunk)).join('');
      budget.spendOnEncryption(algorithm, 'its certificates');
      encryptedParts.push({ algorithm, content: encryptedBytes });
    } else {
      // envelopedData: public-key privacy mode.
      throw cannotOpen();
    }
  }
  for (const bag of plainBags) {
    if (bag.type === OIDS.pkcs8ShroudedKeyBag) {
      budget.spendOnEncryption(elements(bag.value, 2)[0], 'its private key');
    }
  }

  // Every count in sight is within the limits: derive keys.
  try {
    if (mac) {
      const md = mac.digest();
      const key = forge.pkcs12.generateKey(
        password,
        forge.util.createBuffer(mac.salt),
        3,
        mac.count,
        md.digestLength,
        mac.digest(),
      );
      const hmac = forge.hmac.create();
      hmac.start(md, key);
      hmac.update(authenticatedSafe);
      if (hmac.getMac().getBytes() !== mac.value) throw wrongPassword();
    }
    const bags = [...plainBags];
    for (const part of encryptedParts) {
      const [oidNode, params] = elements(part.algorithm, 2);
      const cipher = pbe.getCipher(oidOf(oidNode), params, password);
      cipher.update(forge.util.createBuffer(part.content));
      if (!cipher.finish()) throw mac ? cannotOpen() : wrongPassword();
      const inner = safeBags(cipher.output.getBytes());
      for (const bag of inner) {
        if (bag.type === OIDS.pkcs8ShroudedKeyBag) {
          budget.spendOnEncryption(
            elements(bag.value, 2)[0],
            'its private key',
          );
        }
      }
      bags.push(...inner);
    }
    return contentsOf(bags, password);
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw cannotOpen();
  }
}

function contentsOf(bags: Bag[], password: string): Pkcs12Contents {
  const certBags = bags.filter(bag => bag.type === OIDS.certBag);
  const keyBags = bags.filter(
    bag => bag.type === OIDS.keyBag || bag.type === OIDS.pkcs8ShroudedKeyBag,
  );
  if (certBags.length + keyBags.length < bags.length) {
    throw new InputError(
      'The PKCS#12 file holds something other than certificates and a private key ' +
        '(e.g. a CRL, a secret or nested bags), which is not supported. Export it with ' +
        'the certificate chain and its key only.',
    );
  }
  if (certBags.length === 0) {
    throw new InputError(
      'The PKCS#12 file contains no certificate. Export it with the certificate and its chain.',
    );
  }
  if (keyBags.length !== 1) {
    throw new InputError(
      `The PKCS#12 file must contain exactly one private key, found ${keyBags.length}. ` +
        'Export it with the server key only.',
    );
  }
  const certificatesDer = certBags.map(bag => {
    const [certType, certValue] = elements(bag.value, 2);
    if (oidOf(certType) !== OIDS.x509Certificate) throw cannotOpen();
    return Buffer.from(octets(explicit0(certValue)), 'binary');
  });
  const [keyBag] = keyBags;
  let privateKeyInfo: Asn1 | null = keyBag.value;
  if (keyBag.type === OIDS.pkcs8ShroudedKeyBag) {
    privateKeyInfo = pki.decryptPrivateKeyInfo(keyBag.value, password);
    if (!privateKeyInfo) throw wrongPassword();
  }
  return { certificatesDer, privateKeyDer: toDer(privateKeyInfo) };
}
