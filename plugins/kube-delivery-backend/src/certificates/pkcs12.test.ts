/* eslint jest/expect-expect: ["warn", { "assertFunctionNames": ["expect", "expectContents"] }] */
import { InputError } from '@backstage/errors';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import {
  MAX_PKCS12_ITERATIONS,
  MAX_PKCS12_TOTAL_ITERATIONS,
  readPkcs12,
} from './pkcs12';
import { OpensslCorpus, type Issued } from './__testUtils__/opensslCorpus';
import {
  nestedKeyPkcs12,
  opensslPkcs12,
  withEncryptedPartRepeated,
  withIterationCounts,
} from './__testUtils__/pkcs12Files';

jest.setTimeout(120_000);

/*
 * The iteration counts of a PKCS#12 file are the uploader's choice, and
 * node-forge derives keys in JavaScript, synchronously: every count is
 * checked before any key is derived. Spies on node-forge's key derivations
 * (MAC, PKCS#12 PBE, PBKDF2) tell whether any ran.
 */

const PASSWORD = 'Iterations-P12-Passw0rd';
const TWO_POW_31_MINUS_1 = 2n ** 31n - 1n;

const pbe = (forge.pki as unknown as { pbe: Record<string, any> }).pbe;

let corpus: OpensslCorpus;
let leaf: Issued;
let derivations: jest.SpyInstance[];

beforeAll(() => {
  corpus = new OpensslCorpus();
  corpus.issue('root', { issuer: 'self', kind: 'ca', days: 3650 });
  corpus.issue('intermediate', { issuer: corpus.certs.root, kind: 'ca' });
  leaf = corpus.issue('leaf', { sans: ['app.example.com'] });
});

afterAll(() => corpus.dispose());

beforeEach(() => {
  derivations = [
    jest.spyOn(forge.pkcs12, 'generateKey'),
    jest.spyOn(pbe, 'generatePkcs12Key'),
    jest.spyOn(forge.pkcs5, 'pbkdf2'),
  ];
});

afterEach(() => jest.restoreAllMocks());

const derivationsRun = () =>
  derivations.reduce((sum, spy) => sum + spy.mock.calls.length, 0);

function refusal(data: Buffer): string {
  try {
    readPkcs12(data, PASSWORD);
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return (error as Error).message;
  }
  throw new Error('The file was accepted');
}

function expectContents(data: Buffer) {
  const contents = readPkcs12(data, PASSWORD);
  expect(
    contents.certificatesDer.map(der => new X509Certificate(der).subject),
  ).toEqual(['CN=leaf']);
  expect(
    createPrivateKey({
      key: contents.privateKeyDer,
      format: 'der',
      type: 'pkcs8',
    }).equals(createPrivateKey(leaf.key)),
  ).toBe(true);
}

describe('readPkcs12', () => {
  it('opens OpenSSL 3 files (PBES2, AES-256, SHA-256 MAC) and legacy ones (3DES, RC2-40, SHA-1 MAC)', () => {
    expectContents(opensslPkcs12(corpus, leaf, PASSWORD, []));
    expectContents(opensslPkcs12(corpus, leaf, PASSWORD, ['-legacy']));
    expectContents(
      opensslPkcs12(corpus, leaf, PASSWORD, [
        '-keypbe',
        'PBE-SHA1-3DES',
        '-certpbe',
        'PBE-SHA1-3DES',
        '-macalg',
        'sha1',
      ]),
    );
  });

  it(`opens a file of ${MAX_PKCS12_ITERATIONS} iterations everywhere (openssl -iter ${MAX_PKCS12_ITERATIONS})`, () => {
    expectContents(
      opensslPkcs12(corpus, leaf, PASSWORD, [
        '-iter',
        String(MAX_PKCS12_ITERATIONS),
      ]),
    );
    expect(derivationsRun()).toBeGreaterThan(0);
  });

  it('opens a file whose key bag is inside the encrypted part', () => {
    expectContents(nestedKeyPkcs12(leaf, PASSWORD, 2048n));
  });

  it('refuses a MAC of 2^31-1 iterations without deriving any key', () => {
    const data = withIterationCounts(
      opensslPkcs12(corpus, leaf, PASSWORD, []),
      TWO_POW_31_MINUS_1,
      { mac: true },
    );
    expect(refusal(data)).toBe(
      'The PKCS#12 file asks for 2147483647 iterations of password key derivation for its MAC; ' +
        `from 1 to ${MAX_PKCS12_ITERATIONS} are accepted. Export it again with your tool's default ` +
        'settings, e.g. `openssl pkcs12 -export -in chain.pem -inkey key.pem -out bundle.p12` ' +
        '(OpenSSL 3 uses 2048 iterations).',
    );
    expect(derivationsRun()).toBe(0);
  });

  it('refuses 2^31-1 iterations for the encrypted certificates and the key bag, with a valid MAC count, without deriving any key', () => {
    for (const args of [[], ['-legacy']]) {
      const data = withIterationCounts(
        opensslPkcs12(corpus, leaf, PASSWORD, args),
        TWO_POW_31_MINUS_1,
        { encryption: true },
      );
      expect(refusal(data)).toMatch(
        /^The PKCS#12 file asks for 2147483647 iterations of password key derivation for its certificates; from 1 to 100000 are accepted\./,
      );
    }
    expect(derivationsRun()).toBe(0);
  });

  it('refuses one iteration above the limit, anywhere', () => {
    const count = BigInt(MAX_PKCS12_ITERATIONS + 1);
    const p12 = opensslPkcs12(corpus, leaf, PASSWORD, []);
    expect(refusal(withIterationCounts(p12, count, { mac: true }))).toMatch(
      /asks for 100001 iterations of password key derivation for its MAC/,
    );
    expect(
      refusal(withIterationCounts(p12, count, { encryption: true })),
    ).toMatch(/asks for 100001 iterations .* for its certificates/);
    expect(derivationsRun()).toBe(0);
  });

  it.each([
    [0n, 'asks for 0 iterations'],
    [-1n, 'asks for -1 iterations'],
    [2n ** 64n, `asks for more than ${Number.MAX_SAFE_INTEGER} iterations`],
  ])('refuses a MAC count of %p', (count, message) => {
    const data = withIterationCounts(
      opensslPkcs12(corpus, leaf, PASSWORD, []),
      count,
      { mac: true },
    );
    expect(refusal(data)).toContain(message);
    expect(derivationsRun()).toBe(0);
  });

  it('refuses a key bag of 2^31-1 iterations inside the encrypted part before deriving its key', () => {
    const data = nestedKeyPkcs12(leaf, PASSWORD, TWO_POW_31_MINUS_1);
    derivations.forEach(spy => spy.mockClear()); // making it derived keys
    const decryptKey = jest.spyOn(forge.pki, 'decryptPrivateKeyInfo');
    expect(refusal(data)).toMatch(
      /^The PKCS#12 file asks for 2147483647 iterations of password key derivation for its private key; from 1 to 100000 are accepted\./,
    );
    // Only the encrypted part's key (2048 iterations) was derived.
    expect(derivationsRun()).toBe(1);
    expect(decryptKey).not.toHaveBeenCalled();
  });

  it(`refuses more than ${MAX_PKCS12_TOTAL_ITERATIONS} iterations in all, before deriving any key`, () => {
    // The MAC, the key and the certificates' part twice, at 100,000
    // iterations each: 400,000 (one part less opens, above).
    const data = withEncryptedPartRepeated(
      opensslPkcs12(corpus, leaf, PASSWORD, [
        '-iter',
        String(MAX_PKCS12_ITERATIONS),
      ]),
      2,
    );
    expect(refusal(data)).toMatch(
      /^The PKCS#12 file asks for more than 300000 iterations of password key derivation in all \(its MAC and every encrypted part\); at most 300000 are accepted\./,
    );
    expect(derivationsRun()).toBe(0);
  });

  it('still tells a wrong password and a file that is not PKCS#12', () => {
    const p12 = opensslPkcs12(corpus, leaf, PASSWORD, []);
    expect(() => readPkcs12(p12, 'not-the-password')).toThrow(
      /PKCS#12 password is wrong/,
    );
    expect(() => readPkcs12(Buffer.from('garbage'), PASSWORD)).toThrow(
      /not DER-encoded PKCS#12/,
    );
  });
});
