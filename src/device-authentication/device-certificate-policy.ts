/**
 * What a tenant's own CA (an external CA, or a delegated intermediate whose
 * key the tenant holds) may vouch for: the bar a device certificate ccm did
 * not issue must meet before ccm records it and registers its device. ccm's
 * own certificates meet it by construction (issuance takes P-256, P-384,
 * Ed25519 and RSA 2048-4096 with e = 65537, and writes 128-bit random
 * serials); a tenant's CA may have signed anything, and a device that
 * self-registers with a 1024-bit key would stay trusted for as long as its
 * certificate lives.
 *
 * The key bar is a minimum per family, configurable and on by default,
 * rather than ccm's issuance list: P-521, brainpool or RSA-8192 keys are
 * stronger than what ccm issues, and a broker accepts them. The serial bar is
 * RFC 5280's and not configurable: the serial is ccm's key for the record, and
 * a negative or non-minimal one reads the same as another certificate's.
 */
import { DerFramingError } from '../codec/der.js';
import { describePublicKey, readPublicKeyInfo, type PublicKeyDescription } from '../codec/public-key.js';
import { serialNumberDefect } from '../codec/serial-number.js';
import type { ExternalDeviceKeyPolicy } from '../config/configuration.js';

/** What is wrong with a key: `algorithm` names it ("RSA-1024", "P-224", "DSA") for the caller and the audit trail. */
export interface KeyPolicyViolation {
  readonly algorithm: string;
  readonly message: string;
}

/**
 * RFC 8032 curves by the size their security matches among the NIST curves
 * (Ed25519 ≈ P-256 at 128 bits, Ed448 ≈ 224 bits), so that one curve minimum
 * treats ECDSA and EdDSA alike.
 */
const EDWARDS_CURVE_BITS = { Ed25519: 256, Ed448: 448 } as const;

/**
 * FIPS 186-5 §5.4: an RSA public exponent is odd with 2^16 < e < 2^256. An
 * even one is no RSA key at all, and small ones (3, 17) are what signature
 * forgeries against lax PKCS #1 v1.5 verifiers rely on.
 */
const RSA_EXPONENT_ABOVE = 1n << 16n;
const RSA_EXPONENT_BELOW = 1n << 256n;

/** Why `subjectPublicKeyInfo` (DER) falls short of `policy`, or null when it does not. */
export function deviceKeyViolation(subjectPublicKeyInfo: Uint8Array, policy: ExternalDeviceKeyPolicy): KeyPolicyViolation | null {
  if (!policy.enforce) return null;
  let key: PublicKeyDescription;
  try {
    key = describePublicKey(readPublicKeyInfo(subjectPublicKeyInfo));
  } catch (error) {
    // A key that cannot be read cannot be judged; the CA's signature over it says nothing about it.
    if (error instanceof DerFramingError) return { algorithm: 'malformed key', message: `the certificate's public key is malformed: ${error.message}` };
    throw error;
  }
  switch (key.family) {
    case 'rsa':
      if (key.modulusBits < policy.minimumRsaBits) return { algorithm: key.name, message: `an ${key.name} key is below the ${policy.minimumRsaBits}-bit RSA minimum` };
      if (key.exponent % 2n === 0n || key.exponent <= RSA_EXPONENT_ABOVE || key.exponent >= RSA_EXPONENT_BELOW) {
        return { algorithm: key.name, message: `an ${key.name} key with public exponent ${key.exponent} is refused: the exponent must be odd, above 65536 and below 2^256 (FIPS 186-5 §5.4)` };
      }
      return null;
    case 'ec':
      if (key.bits === null) return { algorithm: key.name, message: `${key.name}: ccm judges keys on named curves it knows only (RFC 5480 §2.1.1)` };
      return key.bits < policy.minimumCurveBits ? { algorithm: key.name, message: `a ${key.name} key is below the ${policy.minimumCurveBits}-bit curve minimum` } : null;
    case 'eddsa':
      return EDWARDS_CURVE_BITS[key.name] < policy.minimumCurveBits ? { algorithm: key.name, message: `an ${key.name} key is below the ${policy.minimumCurveBits}-bit curve minimum` } : null;
    case 'other':
      return { algorithm: key.name, message: `${key.name} keys are refused: ccm accepts RSA, ECDSA and EdDSA device keys` };
  }
}

/** Why a serial number (the INTEGER's content octets) is not one a CA may give, or null. */
export function deviceSerialViolation(serialNumberContent: Uint8Array): string | null {
  const defect = serialNumberDefect(serialNumberContent);
  if (defect === null) return null;
  // Two encodings of one value would be two certificates under one serial in ccm's records.
  if (defect === 'not minimally encoded') return 'the serial number is not minimally encoded, as DER requires (X.690 §8.3.2)';
  return `the serial number is ${defect}; RFC 5280 §4.1.2.2 asks for a positive integer`;
}
