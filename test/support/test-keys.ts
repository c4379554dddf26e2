/**
 * Throwaway signing keys for the issuance tests: a fresh node:crypto key pair
 * for any custody key algorithm, with its DER SubjectPublicKeyInfo and a
 * `Signer` that signs the way custody does (the hash `signatureSchemeFor`
 * names), plus issuing a test certificate with such a key (self-signed, or
 * under a CA certificate issued the same way). Owns key generation, signer
 * construction and that one issuing step for tests only; nothing here is used
 * by ccm itself.
 */
import { createPublicKey, generateKeyPair, sign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { signatureSchemeFor, type KeyAlgorithm } from '../../src/codec/key-algorithm.js';
import { encodeCertificate, subjectKeyIdentifierOf, type CertificateProfile } from '../../src/codec/certificate-encoder.js';
import { inspectCertificate } from '../../src/codec/certificate-inspection.js';
import { encodeDistinguishedName, type DistinguishedName } from '../../src/codec/distinguished-name.js';
import { newSerialNumber } from '../../src/codec/serial-number.js';
import type { Signer } from '../../src/codec/signer.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export interface TestKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** DER SubjectPublicKeyInfo of the key, as written into certificates. */
  readonly spki: Uint8Array;
  readonly signer: Signer;
}

/** A new key pair for `algorithm`; RSA keys get the modulus length the algorithm names (rsa-2048 → 2048 bits). */
export async function newTestKey(algorithm: KeyAlgorithm): Promise<TestKey> {
  const pair =
    algorithm === 'ecdsa-p256'
      ? await generateKeyPairAsync('ec', { namedCurve: 'P-256' })
      : algorithm === 'ecdsa-p384'
        ? await generateKeyPairAsync('ec', { namedCurve: 'P-384' })
        : algorithm === 'ed25519'
          ? await generateKeyPairAsync('ed25519')
          : await generateKeyPairAsync('rsa', { modulusLength: Number(algorithm.slice(4)), publicExponent: 65537 });
  return testKeyOf(algorithm, pair.privateKey);
}

/** The test key for an existing private key (e.g. one made from a fixed seed). */
export function testKeyOf(algorithm: KeyAlgorithm, privateKey: KeyObject): TestKey {
  const hash = signatureSchemeFor(algorithm).hash;
  const publicKey = createPublicKey(privateKey);
  return {
    privateKey,
    publicKey,
    spki: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })),
    signer: { algorithm, sign: async (data) => new Uint8Array(sign(hash, data, privateKey)) },
  };
}

/** What issuing needs of a key: its SPKI and a signer (a test may pair one key's SPKI with another key's signer). */
export type IssuingKey = Pick<TestKey, 'spki' | 'signer'>;

/** A CA certificate and the key that issues under it. */
export interface TestIssuer {
  readonly der: Uint8Array;
  readonly key: IssuingKey;
}

export interface TestCertificateOptions {
  /** Valid from an hour ago until this many hours from now. */
  readonly lifetimeHours: number;
  /** Written only into certificates issued under an issuer, not into self-signed ones. */
  readonly crlDistributionPoints?: readonly string[];
  /** Written only into certificates issued under an issuer, not into self-signed ones. */
  readonly ocspUrls?: readonly string[];
}

/**
 * DER certificate for `subject` and `key`: self-signed when `issuer` is null,
 * otherwise with the issuer certificate's subject name and key identifier,
 * signed by the issuer's signer. Fresh random serial number.
 */
export function issueTestCertificate(subject: DistinguishedName, key: IssuingKey, profile: CertificateProfile, issuer: TestIssuer | null, options: TestCertificateOptions): Promise<Uint8Array> {
  const now = Date.now();
  const hour = 3_600_000;
  return encodeCertificate(
    {
      serialNumber: newSerialNumber(),
      issuerName: issuer === null ? encodeDistinguishedName(subject) : inspectCertificate(issuer.der).subjectName,
      issuerKeyIdentifier: issuer === null ? null : subjectKeyIdentifierOf(issuer.key.spki),
      subject,
      subjectPublicKeyInfo: key.spki,
      notBefore: new Date(now - hour),
      notAfter: new Date(now + options.lifetimeHours * hour),
      profile,
      crlDistributionPoints: issuer === null ? undefined : options.crlDistributionPoints,
      ocspUrls: issuer === null ? undefined : options.ocspUrls,
    },
    (issuer ?? { key }).key.signer,
  );
}
