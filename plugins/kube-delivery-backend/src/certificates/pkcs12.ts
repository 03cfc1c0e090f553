import { InputError } from '@backstage/errors';
// Node's crypto cannot read PKCS#12; node-forge can.
import forge from 'node-forge';

/** The DER contents of a PKCS#12 file: certificates in file order and the one key. */
export interface Pkcs12Contents {
  certificatesDer: Buffer[];
  privateKeyDer: Buffer;
}

function toDer(node: forge.asn1.Asn1): Buffer {
  return Buffer.from(forge.asn1.toDer(node).getBytes(), 'binary');
}

/**
 * Opens a PKCS#12 (.p12/.pfx) file. Errors never include the password or any
 * decrypted content: forge's own messages are replaced by ours.
 */
export function readPkcs12(data: Buffer, password: string): Pkcs12Contents {
  let asn1: forge.asn1.Asn1;
  try {
    asn1 = forge.asn1.fromDer(forge.util.createBuffer(data.toString('binary')));
  } catch {
    throw new InputError(
      'The PKCS#12 file could not be read: it is not DER-encoded PKCS#12 (.p12/.pfx). ' +
        'Upload the binary file itself, or its base64 encoding.',
    );
  }
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    p12 = forge.pkcs12.pkcs12FromAsn1(asn1, false, password);
  } catch (error) {
    const message = error instanceof Error ? error.message : '';
    if (/password/i.test(message)) {
      throw new InputError(
        'The PKCS#12 password is wrong: the file could not be decrypted with it. ' +
          'Check the password you set when exporting the file.',
      );
    }
    throw new InputError(
      'The PKCS#12 file could not be opened (wrong password, or an unsupported or ' +
        'corrupt file). Check the password, or export it again, e.g. ' +
        '`openssl pkcs12 -export -in chain.pem -inkey key.pem -out bundle.p12`.',
    );
  }

  const certBags =
    p12.getBags({ bagType: forge.pki.oids.certBag })[forge.pki.oids.certBag] ??
    [];
  const keyBags = [
    ...(p12.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag })[
      forge.pki.oids.pkcs8ShroudedKeyBag
    ] ?? []),
    ...(p12.getBags({ bagType: forge.pki.oids.keyBag })[
      forge.pki.oids.keyBag
    ] ?? []),
  ];
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
  const certificatesDer = certBags.map(bag =>
    toDer(bag.cert ? forge.pki.certificateToAsn1(bag.cert) : bag.asn1),
  );
  const keyBag = keyBags[0];
  const privateKeyDer = toDer(
    keyBag.key
      ? forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(keyBag.key))
      : keyBag.asn1,
  );
  return { certificatesDer, privateKeyDer };
}
