import { InputError } from '@backstage/errors';
import { X509Certificate } from 'node:crypto';
import {
  CertificateUploadInput,
  CertificateValidationOptions,
  MAX_CERTIFICATE_INPUT_BYTES,
  sanCoversHost,
  validateCertificateUpload,
} from './validate';
import {
  keyLines,
  OpensslCorpus,
  type CertSpec,
  type Issued,
} from './__testUtils__/opensslCorpus';

/*
 * The corpus is generated at run time with the openssl CLI: a root CA, intermediates
 * and leaves with various SANs, validity periods and key types. Validity edge cases
 * move `options.now` instead of back-dating certificates.
 */

const DAY_MS = 24 * 60 * 60 * 1000;
const P12_PASSWORD = 'Corpus-P12-Passw0rd!';
const ENC_PASSPHRASE = 'Corpus-Key-Passphrase';

let generator: OpensslCorpus;
let corpus: Record<string, Issued> = {};
const openssl = (args: string[]) => generator.openssl(args);
const issue = (name: string, spec: CertSpec) => generator.issue(name, spec);
const pkcs12 = (leaf: Issued, chain: Issued[], password: string) =>
  generator.pkcs12(leaf, chain, password);

const options = (
  hosts: string[],
  extra: Partial<CertificateValidationOptions> = {},
) => ({
  hosts,
  expiryWarningDays: 30,
  ...extra,
});

const pem = (certs: Issued[], key: string): CertificateUploadInput => ({
  format: 'pem',
  certificateChain: certs.map(c => c.cert).join(''),
  privateKey: key,
});

/** Every error message seen, for the "no secrets in messages" test. */
const messages: string[] = [];

/** The message of the InputError thrown for this upload. */
function refusal(
  input: CertificateUploadInput,
  opts: CertificateValidationOptions,
): string {
  let caught: unknown;
  try {
    validateCertificateUpload(input, opts);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InputError);
  const message = (caught as Error).message;
  messages.push(message);
  return message;
}

beforeAll(() => {
  generator = new OpensslCorpus();
  corpus = generator.certs;
  const root = issue('root', { issuer: 'self', kind: 'ca', days: 3650 });
  issue('intermediate', { issuer: root, kind: 'ca', days: 1825 });
  const int2 = issue('intermediate2', { kind: 'ca', days: 1825 });
  const shortInt = issue('shortIntermediate', {
    issuer: root,
    kind: 'ca',
    days: 5,
  });
  const notCa = issue('notCaIssuer', { issuer: root, kind: 'not-ca-issuer' });

  issue('rsa2048', { key: 'rsa:2048', sans: ['app.example.com'] });
  issue('rsa3072', { key: 'rsa:3072', sans: ['app.example.com'] });
  issue('ec256', { sans: ['app.example.com', 'www.example.com'] });
  issue('ec256b', { sans: ['app.example.com'] });
  issue('ec384', { key: 'ec:P-384', sans: ['app.example.com'] });
  issue('ec521', { key: 'ec:P-521', sans: ['app.example.com'] });
  issue('wildcard', { sans: ['*.example.com'] });
  issue('wildcardUpper', { sans: ['*.EXAMPLE.com'] });
  issue('deepWildcard', { sans: ['*.b.example.com'] });
  issue('partialWildcard', { sans: ['f*.example.com'] });
  issue('tldWildcard', { sans: ['*.com'] });
  issue('multi', { sans: ['a.example.com', 'b.example.com', 'c.example.org'] });
  issue('upper', { sans: ['APP.Example.COM'] });
  issue('manySans', {
    sans: Array.from({ length: 50 }, (_, i) => `h${i}.example.com`),
  });
  issue('soon', { sans: ['app.example.com'], days: 10 });
  issue('caLeaf', { kind: 'ca', sans: ['app.example.com'] });
  issue('rsa1024', { key: 'rsa:1024', sans: ['app.example.com'] });
  issue('secp256k1', { key: 'ec:secp256k1', sans: ['app.example.com'] });
  issue('ed25519', { key: 'ed25519', sans: ['app.example.com'] });
  issue('rsaPss', { key: 'rsa-pss', sans: ['app.example.com'] });
  issue('fromRoot', { issuer: root, sans: ['app.example.com'] });
  issue('selfSigned', { issuer: 'self', sans: ['app.example.com'] });
  issue('noSan', {});
  issue('ipOnly', { sans: ['IP:10.0.0.1'] });
  issue('underInt2', { issuer: int2, sans: ['app.example.com'] });
  issue('underShortInt', { issuer: shortInt, sans: ['app.example.com'] });
  issue('underNotCa', { issuer: notCa, sans: ['app.example.com'] });
}, 120_000);

afterAll(() => {
  generator?.dispose();
});

describe('validateCertificateUpload', () => {
  it('generated a corpus of at least 30 certificates', () => {
    expect(Object.keys(corpus).length).toBeGreaterThanOrEqual(30);
  });

  describe('accepted uploads', () => {
    it('accepts RSA 2048 with its intermediate and returns metadata without key material', () => {
      const { rsa2048, intermediate } = corpus;
      const result = validateCertificateUpload(
        pem([rsa2048, intermediate], rsa2048.key),
        options(['app.example.com']),
      );
      expect(result.warnings).toEqual([]);
      expect(result.metadata).toMatchObject({
        subject: 'CN=rsa2048',
        issuer: 'CN=intermediate',
        sans: ['app.example.com'],
        keyType: 'rsa',
        keyBits: 2048,
      });
      expect(result.metadata.curve).toBeUndefined();
      expect(result.metadata.fingerprintSha256).toMatch(
        /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/,
      );
      expect(result.metadata.serialNumber).toMatch(/^[0-9A-F]+$/);
      expect(new Date(result.metadata.validTo).toISOString()).toBe(
        result.metadata.validTo,
      );
      expect(result.leafPem).toContain('BEGIN CERTIFICATE');
      expect(result.chainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
      expect(result.chainPem.startsWith(result.leafPem)).toBe(true);
      expect(result.keyPem).toContain('-----BEGIN PRIVATE KEY-----');
      const metadataText = JSON.stringify(result.metadata);
      expect(metadataText).not.toMatch(/PRIVATE|BEGIN/);
      for (const line of keyLines(rsa2048.key))
        expect(metadataText).not.toContain(line);
    });

    it.each([
      ['ec256', 'P-256'],
      ['ec384', 'P-384'],
      ['ec521', 'P-521'],
    ])('accepts EC %s', (name, curve) => {
      const cert = corpus[name];
      const result = validateCertificateUpload(
        pem([cert, corpus.intermediate], cert.key),
        options(['app.example.com']),
      );
      expect(result.metadata).toMatchObject({ keyType: 'ec', curve });
      expect(result.metadata.keyBits).toBeUndefined();
    });

    it('accepts RSA 3072', () => {
      const { rsa3072, intermediate } = corpus;
      const result = validateCertificateUpload(
        pem([rsa3072, intermediate], rsa3072.key),
        options(['app.example.com']),
      );
      expect(result.metadata.keyBits).toBe(3072);
    });

    it('accepts a full chain including the root', () => {
      const { ec256, intermediate, root } = corpus;
      const result = validateCertificateUpload(
        pem([ec256, intermediate, root], ec256.key),
        options(['app.example.com']),
      );
      expect(result.chainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
    });

    it('accepts a three-level chain in order', () => {
      const { underInt2, intermediate2, intermediate } = corpus;
      expect(() =>
        validateCertificateUpload(
          pem([underInt2, intermediate2, intermediate], underInt2.key),
          options(['app.example.com']),
        ),
      ).not.toThrow();
    });

    it('accepts a leaf alone (issued directly by a root that is not uploaded)', () => {
      const { fromRoot } = corpus;
      expect(
        validateCertificateUpload(
          pem([fromRoot], fromRoot.key),
          options(['app.example.com']),
        ).warnings,
      ).toEqual([]);
    });

    it('accepts a self-signed leaf with a warning', () => {
      const { selfSigned } = corpus;
      const result = validateCertificateUpload(
        pem([selfSigned], selfSigned.key),
        options(['app.example.com']),
      );
      expect(result.warnings.join()).toMatch(/self-signed/);
    });

    it('accepts a wildcard covering one label, for several hosts', () => {
      const { wildcard, intermediate } = corpus;
      const result = validateCertificateUpload(
        pem([wildcard, intermediate], wildcard.key),
        options(['a.example.com', 'shop.example.com']),
      );
      expect(result.metadata.sans).toEqual(['*.example.com']);
    });

    it('accepts a wildcard one level down', () => {
      const { deepWildcard } = corpus;
      expect(() =>
        validateCertificateUpload(
          pem([deepWildcard], deepWildcard.key),
          options(['a.b.example.com']),
        ),
      ).not.toThrow();
    });

    it('matches hosts case-insensitively, both ways', () => {
      const { upper, wildcardUpper, ec256 } = corpus;
      expect(() =>
        validateCertificateUpload(
          pem([upper], upper.key),
          options(['app.example.com']),
        ),
      ).not.toThrow();
      expect(() =>
        validateCertificateUpload(
          pem([wildcardUpper], wildcardUpper.key),
          options(['Shop.Example.com']),
        ),
      ).not.toThrow();
      expect(() =>
        validateCertificateUpload(
          pem([ec256], ec256.key),
          options(['APP.EXAMPLE.COM', 'www.example.com.']),
        ),
      ).not.toThrow();
    });

    it('accepts a certificate with many SANs', () => {
      const { manySans } = corpus;
      const result = validateCertificateUpload(
        pem([manySans], manySans.key),
        options(['h0.example.com', 'h49.example.com']),
      );
      expect(result.metadata.sans).toHaveLength(50);
    });

    it('accepts a certificate expiring soon, with a warning', () => {
      const { soon, intermediate } = corpus;
      const result = validateCertificateUpload(
        pem([soon, intermediate], soon.key),
        options(['app.example.com'], { expiryWarningDays: 30 }),
      );
      expect(result.warnings).toHaveLength(1);
      expect(result.warnings[0]).toMatch(/expires in (9|10) day/);
      // No warning when the threshold is shorter.
      expect(
        validateCertificateUpload(
          pem([soon], soon.key),
          options(['app.example.com'], { expiryWarningDays: 5 }),
        ).warnings,
      ).toEqual([]);
    });

    it('takes the earliest expiry of the whole chain, with a warning naming the intermediate', () => {
      const intermediate29 = issue('intermediate29', {
        issuer: corpus.root,
        kind: 'ca',
        days: 29,
      });
      const leaf89 = issue('leaf89', {
        issuer: intermediate29,
        sans: ['app.example.com'],
        days: 89,
      });
      const result = validateCertificateUpload(
        pem([leaf89, intermediate29], leaf89.key),
        options(['app.example.com'], { expiryWarningDays: 30 }),
      );
      const daysTo = (iso: string) =>
        Math.floor((Date.parse(iso) - Date.now()) / DAY_MS);
      expect(daysTo(result.metadata.validTo)).toBe(88);
      expect(result.metadata.chainValidTo).toBe(
        new Date(
          new X509Certificate(intermediate29.cert).validTo,
        ).toISOString(),
      );
      expect(daysTo(result.metadata.chainValidTo)).toBe(28);
      expect(result.warnings).toEqual([
        expect.stringMatching(
          /^Certificate 2 of the chain \(CN=intermediate29\) expires in 28 day\(s\), on .*, before the certificate itself \(.*\): HTTPS fails then\. Plan its renewal\.$/,
        ),
      ]);
      // A chain whose intermediates outlive the leaf expires with the leaf.
      const { rsa2048, intermediate } = corpus;
      const long = validateCertificateUpload(
        pem([rsa2048, intermediate], rsa2048.key),
        options(['app.example.com']),
      );
      expect(long.metadata.chainValidTo).toBe(long.metadata.validTo);
    });

    it('accepts traditional RSA PRIVATE KEY and EC PRIVATE KEY blocks', () => {
      const { rsa2048, ec256 } = corpus;
      const rsaTraditional = openssl([
        'rsa',
        '-in',
        rsa2048.keyFile,
        '-traditional',
      ]).toString();
      expect(rsaTraditional).toContain('BEGIN RSA PRIVATE KEY');
      expect(() =>
        validateCertificateUpload(
          pem([rsa2048], rsaTraditional),
          options(['app.example.com']),
        ),
      ).not.toThrow();
      const ecTraditional = openssl(['ec', '-in', ec256.keyFile]).toString();
      expect(ecTraditional).toContain('BEGIN EC PRIVATE KEY');
      const result = validateCertificateUpload(
        pem([ec256], ecTraditional),
        options(['app.example.com']),
      );
      expect(result.keyPem).toContain('BEGIN PRIVATE KEY');
    });

    it('tolerates CRLF line endings and text around the blocks', () => {
      const { ec256, intermediate } = corpus;
      const chain =
        `subject=CN=ec256\r\n${ec256.cert}\n# intermediate\n${intermediate.cert}`.replace(
          /\n/g,
          '\r\n',
        );
      expect(() =>
        validateCertificateUpload(
          {
            format: 'pem',
            certificateChain: chain,
            privateKey: ec256.key.replace(/\n/g, '\r\n'),
          },
          options(['app.example.com']),
        ),
      ).not.toThrow();
    });
  });

  describe('refused uploads', () => {
    it('refuses a wildcard for a host two labels down', () => {
      const { wildcard } = corpus;
      expect(
        refusal(pem([wildcard], wildcard.key), options(['a.b.example.com'])),
      ).toMatch(/does not cover host a\.b\.example\.com/);
    });

    it('refuses a wildcard for the bare domain', () => {
      const { wildcard } = corpus;
      expect(
        refusal(pem([wildcard], wildcard.key), options(['example.com'])),
      ).toMatch(/does not cover host example\.com.*\*\.example\.com/s);
    });

    it('refuses partial and top-level wildcards', () => {
      const { partialWildcard, tldWildcard } = corpus;
      expect(
        refusal(
          pem([partialWildcard], partialWildcard.key),
          options(['foo.example.com']),
        ),
      ).toMatch(/does not cover/);
      expect(
        refusal(pem([tldWildcard], tldWildcard.key), options(['example.com'])),
      ).toMatch(/does not cover/);
    });

    it('refuses a SAN miss and names the missing host and the SANs', () => {
      const { ec256 } = corpus;
      expect(
        refusal(pem([ec256], ec256.key), options(['shop.example.com'])),
      ).toMatch(/shop\.example\.com.*app\.example\.com, www\.example\.com/s);
    });

    it('refuses when one of several hosts is missing, naming only that one', () => {
      const { multi } = corpus;
      const message = refusal(
        pem([multi], multi.key),
        options(['a.example.com', 'b.example.com', 'd.example.com']),
      );
      expect(message).toMatch(/does not cover host d\.example\.com\./);
      expect(message).not.toMatch(/host a\.example\.com/);
    });

    it('refuses a certificate without DNS SANs (CN is not used)', () => {
      const { noSan, ipOnly } = corpus;
      expect(refusal(pem([noSan], noSan.key), options(['noSan']))).toMatch(
        /\(none\).*Common Name is not used/s,
      );
      expect(refusal(pem([ipOnly], ipOnly.key), options(['10.0.0.1']))).toMatch(
        /does not cover/,
      );
    });

    it('refuses an expired certificate', () => {
      const { ec256 } = corpus;
      expect(
        refusal(
          pem([ec256], ec256.key),
          options(['app.example.com'], {
            now: new Date(Date.now() + 400 * DAY_MS),
          }),
        ),
      ).toMatch(/certificate expired on \d{4}-/);
    });

    it('refuses a certificate that is not yet valid', () => {
      const { ec256 } = corpus;
      expect(
        refusal(
          pem([ec256], ec256.key),
          options(['app.example.com'], { now: new Date(Date.now() - DAY_MS) }),
        ),
      ).toMatch(/not yet valid: it is valid from/);
    });

    it('refuses an expired intermediate', () => {
      const { underShortInt, shortIntermediate } = corpus;
      expect(() =>
        validateCertificateUpload(
          pem([underShortInt, shortIntermediate], underShortInt.key),
          options(['app.example.com']),
        ),
      ).not.toThrow();
      expect(
        refusal(
          pem([underShortInt, shortIntermediate], underShortInt.key),
          options(['app.example.com'], {
            now: new Date(Date.now() + 10 * DAY_MS),
          }),
        ),
      ).toMatch(/Certificate 2 of the chain expired/);
    });

    it('refuses a chain out of order', () => {
      const { ec256, intermediate, root, underInt2, intermediate2 } = corpus;
      expect(
        refusal(
          pem([ec256, root, intermediate], ec256.key),
          options(['app.example.com']),
        ),
      ).toMatch(/out of order/);
      expect(
        refusal(
          pem([underInt2, intermediate, intermediate2], underInt2.key),
          options(['app.example.com']),
        ),
      ).toMatch(/out of order/);
    });

    it('refuses a chain with the leaf not first', () => {
      const { ec256, intermediate } = corpus;
      expect(
        refusal(
          pem([intermediate, ec256], ec256.key),
          options(['app.example.com']),
        ),
      ).toMatch(/belongs to certificate 2.*server certificate first/s);
    });

    it('refuses a chain with a missing intermediate', () => {
      const { ec256, root, underInt2, intermediate } = corpus;
      expect(
        refusal(pem([ec256, root], ec256.key), options(['app.example.com'])),
      ).toMatch(/intermediate certificate is probably missing/);
      expect(
        refusal(
          pem([underInt2, intermediate], underInt2.key),
          options(['app.example.com']),
        ),
      ).toMatch(/was not issued by certificate 2/);
    });

    it('refuses an unrelated certificate in the chain', () => {
      const { ec256, rsa2048 } = corpus;
      expect(
        refusal(pem([ec256, rsa2048], ec256.key), options(['app.example.com'])),
      ).toMatch(/chain is broken/);
    });

    it('refuses an issuer that is not a CA', () => {
      const { underNotCa, notCaIssuer } = corpus;
      expect(
        refusal(
          pem([underNotCa, notCaIssuer], underNotCa.key),
          options(['app.example.com']),
        ),
      ).toMatch(/Certificate 2 of the chain is not a CA/);
    });

    it('refuses a CA certificate as the leaf', () => {
      const { caLeaf } = corpus;
      expect(
        refusal(pem([caLeaf], caLeaf.key), options(['app.example.com'])),
      ).toMatch(/CA certificate, not a server certificate/);
    });

    it('refuses an RSA 1024 key', () => {
      const { rsa1024 } = corpus;
      expect(
        refusal(pem([rsa1024], rsa1024.key), options(['app.example.com'])),
      ).toMatch(/1024 bits; at least 2048/);
    });

    it('refuses the EC curve secp256k1', () => {
      const { secp256k1 } = corpus;
      expect(
        refusal(pem([secp256k1], secp256k1.key), options(['app.example.com'])),
      ).toMatch(/curve secp256k1; only P-256, P-384 and P-521/);
    });

    it('refuses Ed25519 and RSA-PSS keys', () => {
      const { ed25519, rsaPss } = corpus;
      expect(
        refusal(pem([ed25519], ed25519.key), options(['app.example.com'])),
      ).toMatch(/type ed25519 is not supported/);
      expect(
        refusal(pem([rsaPss], rsaPss.key), options(['app.example.com'])),
      ).toMatch(/type rsa-pss is not supported/);
    });

    it('refuses the key of another certificate', () => {
      const { ec256, ec256b, rsa2048 } = corpus;
      expect(
        refusal(pem([ec256], ec256b.key), options(['app.example.com'])),
      ).toMatch(/does not match the certificate/);
      expect(
        refusal(pem([ec256], rsa2048.key), options(['app.example.com'])),
      ).toMatch(/does not match the certificate/);
    });

    it('refuses encrypted keys (PKCS#8 and traditional)', () => {
      const { ec256, rsa2048 } = corpus;
      const pkcs8 = openssl([
        'pkey',
        '-in',
        ec256.keyFile,
        '-aes256',
        '-passout',
        `pass:${ENC_PASSPHRASE}`,
      ]).toString();
      expect(pkcs8).toContain('ENCRYPTED PRIVATE KEY');
      expect(
        refusal(pem([ec256], pkcs8), options(['app.example.com'])),
      ).toMatch(/encrypted with a passphrase/);
      const traditional = openssl([
        'rsa',
        '-in',
        rsa2048.keyFile,
        '-traditional',
        '-aes256',
        '-passout',
        `pass:${ENC_PASSPHRASE}`,
      ]).toString();
      expect(traditional).toContain('Proc-Type: 4,ENCRYPTED');
      expect(
        refusal(pem([rsa2048], traditional), options(['app.example.com'])),
      ).toMatch(/encrypted with a passphrase/);
    });

    it('refuses garbage PEM', () => {
      const { ec256 } = corpus;
      expect(refusal(pem([], ec256.key), options(['app.example.com']))).toMatch(
        /chain is empty/,
      );
      expect(
        refusal(
          {
            format: 'pem',
            certificateChain: 'hello world',
            privateKey: ec256.key,
          },
          options(['a']),
        ),
      ).toMatch(/not valid PEM/);
      expect(
        refusal(
          {
            format: 'pem',
            certificateChain:
              '-----BEGIN CERTIFICATE-----\nnotbase64!!\n-----END CERTIFICATE-----\n',
            privateKey: ec256.key,
          },
          options(['a']),
        ),
      ).toMatch(/Certificate 1 of the chain could not be parsed/);
      expect(
        refusal(
          {
            format: 'pem',
            certificateChain: ec256.cert.slice(0, -30),
            privateKey: ec256.key,
          },
          options(['a']),
        ),
      ).toMatch(/not valid PEM/);
      expect(
        refusal(
          {
            format: 'pem',
            certificateChain: ec256.cert,
            privateKey:
              '-----BEGIN PRIVATE KEY-----\nSECRETSECRETSECRET\n-----END PRIVATE KEY-----\n',
          },
          options(['a']),
        ),
      ).toMatch(/private key could not be parsed/);
      expect(
        refusal(
          {
            format: 'pem',
            certificateChain: ec256.cert,
            privateKey: 'not a key at all',
          },
          options(['a']),
        ),
      ).toMatch(/private key is not valid PEM/);
    });

    it('refuses wrong block types in either field', () => {
      const { ec256 } = corpus;
      expect(
        refusal(
          {
            format: 'pem',
            certificateChain: ec256.cert + ec256.key,
            privateKey: ec256.key,
          },
          options(['a']),
        ),
      ).toMatch(/chain contains a private key/);
      expect(
        refusal(
          {
            format: 'pem',
            certificateChain: ec256.cert.replace(/CERTIFICATE/g, 'X509 CRL'),
            privateKey: ec256.key,
          },
          options(['a']),
        ),
      ).toMatch(/"X509 CRL" block; only CERTIFICATE/);
      expect(
        refusal(
          {
            format: 'pem',
            certificateChain: ec256.cert,
            privateKey: ec256.key + ec256.cert,
          },
          options(['a']),
        ),
      ).toMatch(/exactly one PRIVATE KEY/);
      expect(
        refusal(
          {
            format: 'pem',
            certificateChain: ec256.cert,
            privateKey: ec256.key + ec256.key,
          },
          options(['a']),
        ),
      ).toMatch(/exactly one PRIVATE KEY/);
    });

    it('refuses empty input', () => {
      const { ec256 } = corpus;
      expect(
        refusal(
          { format: 'pem', certificateChain: '', privateKey: '' },
          options(['a']),
        ),
      ).toMatch(/chain is empty/);
      expect(
        refusal(
          { format: 'pem', certificateChain: ec256.cert, privateKey: '  \n' },
          options(['a']),
        ),
      ).toMatch(/private key is empty/);
      expect(
        refusal(
          { format: 'pkcs12', data: Buffer.alloc(0), password: '' },
          options(['a']),
        ),
      ).toMatch(/PKCS#12 file is empty/);
      expect(
        refusal(undefined as unknown as CertificateUploadInput, options(['a'])),
      ).toMatch(/upload is empty/);
      expect(
        refusal(
          { format: 'der' } as unknown as CertificateUploadInput,
          options(['a']),
        ),
      ).toMatch(/"pem" or "pkcs12"/);
      expect(
        refusal(
          { format: 'pem' } as unknown as CertificateUploadInput,
          options(['a']),
        ),
      ).toMatch(/are required/);
    });

    it('refuses huge input', () => {
      const { ec256, intermediate } = corpus;
      const huge = `${ec256.cert}${intermediate.cert.repeat(
        Math.ceil(MAX_CERTIFICATE_INPUT_BYTES / intermediate.cert.length),
      )}`;
      expect(
        refusal(
          { format: 'pem', certificateChain: huge, privateKey: ec256.key },
          options(['a']),
        ),
      ).toMatch(/certificate chain is larger than 64 KiB/);
      expect(
        refusal(
          {
            format: 'pem',
            certificateChain: ec256.cert,
            privateKey: ec256.key + ' '.repeat(MAX_CERTIFICATE_INPUT_BYTES),
          },
          options(['a']),
        ),
      ).toMatch(/private key is larger than 64 KiB/);
      expect(
        refusal(
          {
            format: 'pkcs12',
            data: Buffer.alloc(MAX_CERTIFICATE_INPUT_BYTES + 1),
            password: 'x',
          },
          options(['a']),
        ),
      ).toMatch(/PKCS#12 file is larger than 64 KiB/);
      expect(
        refusal(
          { format: 'pkcs12', data: 'A'.repeat(200_000), password: 'x' },
          options(['a']),
        ),
      ).toMatch(/PKCS#12 file is larger than 64 KiB/);
    });

    it('refuses too many certificates', () => {
      const { ec256, intermediate } = corpus;
      expect(
        refusal(
          pem([ec256, ...Array(10).fill(intermediate)], ec256.key),
          options(['a']),
        ),
      ).toMatch(/at most 10/);
    });
  });

  describe('PKCS#12', () => {
    it('accepts the right password and orders the chain leaf first', () => {
      const { ec256, intermediate, root } = corpus;
      const p12 = pkcs12(ec256, [root, intermediate], P12_PASSWORD);
      const result = validateCertificateUpload(
        { format: 'pkcs12', data: p12, password: P12_PASSWORD },
        options(['app.example.com']),
      );
      expect(result.metadata).toMatchObject({
        subject: 'CN=ec256',
        keyType: 'ec',
        curve: 'P-256',
      });
      const fromPem = validateCertificateUpload(
        pem([ec256, intermediate, root], ec256.key),
        options(['app.example.com']),
      );
      expect(result.chainPem).toBe(fromPem.chainPem);
      expect(result.keyPem).toBe(fromPem.keyPem);
    });

    it('accepts an RSA bundle given as base64', () => {
      const { rsa2048, intermediate } = corpus;
      const p12 = pkcs12(rsa2048, [intermediate], P12_PASSWORD);
      const result = validateCertificateUpload(
        {
          format: 'pkcs12',
          data: p12.toString('base64'),
          password: P12_PASSWORD,
        },
        options(['app.example.com']),
      );
      expect(result.metadata).toMatchObject({ keyType: 'rsa', keyBits: 2048 });
      expect(result.chainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    });

    it('says the password is wrong', () => {
      const { ec256, intermediate } = corpus;
      const p12 = pkcs12(ec256, [intermediate], P12_PASSWORD);
      expect(
        refusal(
          { format: 'pkcs12', data: p12, password: 'not-the-password' },
          options(['app.example.com']),
        ),
      ).toMatch(/PKCS#12 password is wrong/);
      expect(
        refusal(
          { format: 'pkcs12', data: p12, password: '' },
          options(['app.example.com']),
        ),
      ).toMatch(/PKCS#12 password is wrong/);
    });

    it('applies the same checks as PEM', () => {
      const { rsa1024, underInt2, intermediate2, root } = corpus;
      expect(
        refusal(
          {
            format: 'pkcs12',
            data: pkcs12(rsa1024, [], P12_PASSWORD),
            password: P12_PASSWORD,
          },
          options(['app.example.com']),
        ),
      ).toMatch(/at least 2048/);
      expect(
        refusal(
          {
            format: 'pkcs12',
            data: pkcs12(underInt2, [intermediate2, root], P12_PASSWORD),
            password: P12_PASSWORD,
          },
          options(['app.example.com']),
        ),
      ).toMatch(/intermediate certificate is probably missing/);
    });

    it('refuses garbage PKCS#12 data', () => {
      expect(
        refusal(
          {
            format: 'pkcs12',
            data: Buffer.from('garbage'),
            password: P12_PASSWORD,
          },
          options(['a']),
        ),
      ).toMatch(/not DER-encoded PKCS#12/);
      expect(
        refusal(
          { format: 'pkcs12', data: 'not base64 !!', password: P12_PASSWORD },
          options(['a']),
        ),
      ).toMatch(/base64/);
    });
  });

  it('never puts a line of a private key or a password in an error message', () => {
    // Runs last: `messages` holds every error of the refused cases above.
    expect(messages.length).toBeGreaterThan(40);
    const secrets = [
      P12_PASSWORD,
      'not-the-password',
      ENC_PASSPHRASE,
      'SECRETSECRET',
    ];
    for (const issued of Object.values(corpus))
      secrets.push(...keyLines(issued.key));
    for (const message of messages) {
      for (const secret of secrets) expect(message).not.toContain(secret);
    }
  });
});

describe('sanCoversHost', () => {
  it.each([
    ['app.example.com', 'app.example.com', true],
    ['APP.example.com', 'app.EXAMPLE.com', true],
    ['*.example.com', 'a.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'a.b.example.com', false],
    ['*.example.com', '*.example.com', true],
    ['app.example.com', '*.example.com', false],
    ['*.com', 'example.com', false],
    ['f*.example.com', 'foo.example.com', false],
    ['*.*.example.com', 'a.b.example.com', false],
    ['', 'example.com', false],
  ])('%s covers %s: %s', (san, host, expected) => {
    expect(sanCoversHost(san, host)).toBe(expected);
  });
});
