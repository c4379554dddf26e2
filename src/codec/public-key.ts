/**
 * What a DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) holds: its algorithm
 * OID, the subjectPublicKey bits, and which ccm `KeyAlgorithm` it is, if any.
 * Issuance accepts the keys ccm can also hold in custody (P-256, P-384,
 * Ed25519, RSA 2048/3072/4096 with e = 65537) and names anything else it sees;
 * `describePublicKey` tells the family and size of any key, for judging the
 * keys of certificates ccm did not issue. Also turns one into a node:crypto
 * KeyObject, the way that costs least.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { DomainError } from '../shared/errors.js';
import type { KeyAlgorithm } from './key-algorithm.js';
import {
  DerFramingError,
  DerTag,
  bitStringOctets,
  decodeObjectIdentifier,
  encodeObjectIdentifier,
  expectTag,
  readChildren,
  readSingleElement,
  type DerElement,
} from './der.js';

export const PublicKeyOid = {
  rsaEncryption: '1.2.840.113549.1.1.1', // RFC 8017 Appendix C
  rsassaPss: '1.2.840.113549.1.1.10', // RFC 4055 §3.1
  ecPublicKey: '1.2.840.10045.2.1', // RFC 5480 §2.1.1
  ed25519: '1.3.101.112', // RFC 8410 §3
  ed448: '1.3.101.113',
  x25519: '1.3.101.110',
  x448: '1.3.101.111',
  dsa: '1.2.840.10040.4.1', // RFC 3279 §2.3.2
} as const;

/** Named curves (RFC 5480 §2.1.1.1, RFC 5639) by OID, with their size in bits: what a key-size minimum is held against. */
const CURVES: Record<string, { readonly name: string; readonly bits: number; readonly algorithm: KeyAlgorithm | null }> = {
  '1.2.840.10045.3.1.1': { name: 'P-192', bits: 192, algorithm: null },
  '1.3.132.0.33': { name: 'P-224', bits: 224, algorithm: null },
  '1.2.840.10045.3.1.7': { name: 'P-256', bits: 256, algorithm: 'ecdsa-p256' },
  '1.3.132.0.34': { name: 'P-384', bits: 384, algorithm: 'ecdsa-p384' },
  '1.3.132.0.35': { name: 'P-521', bits: 521, algorithm: null },
  '1.3.132.0.10': { name: 'secp256k1', bits: 256, algorithm: null },
  '1.3.36.3.3.2.8.1.1.3': { name: 'brainpoolP192r1', bits: 192, algorithm: null },
  '1.3.36.3.3.2.8.1.1.5': { name: 'brainpoolP224r1', bits: 224, algorithm: null },
  '1.3.36.3.3.2.8.1.1.7': { name: 'brainpoolP256r1', bits: 256, algorithm: null },
  '1.3.36.3.3.2.8.1.1.11': { name: 'brainpoolP384r1', bits: 384, algorithm: null },
  '1.3.36.3.3.2.8.1.1.13': { name: 'brainpoolP512r1', bits: 512, algorithm: null },
};

const OTHER_ALGORITHMS: Record<string, string> = {
  [PublicKeyOid.rsassaPss]: 'RSASSA-PSS-only RSA key',
  [PublicKeyOid.ed448]: 'Ed448',
  [PublicKeyOid.x25519]: 'X25519',
  [PublicKeyOid.x448]: 'X448',
  [PublicKeyOid.dsa]: 'DSA',
};

/** RFC 4055 does not fix an exponent, but 65537 is what every current profile asks for and what custody generates. */
const RSA_EXPONENT = 65537n;
const RSA_SIZES: Record<number, KeyAlgorithm> = { 2048: 'rsa-2048', 3072: 'rsa-3072', 4096: 'rsa-4096' };

export interface PublicKeyInfo {
  /** The whole SubjectPublicKeyInfo, as given. */
  readonly der: Uint8Array;
  readonly algorithmOid: string;
  /** DER of AlgorithmIdentifier.parameters, or `null` when absent. */
  readonly parameters: Uint8Array | null;
  /** The subjectPublicKey BIT STRING value, without the unused-bits octet. */
  readonly publicKey: Uint8Array;
}

/** Splits a DER SubjectPublicKeyInfo; throws `DerFramingError`, which each caller maps to its own kind. */
export function readPublicKeyInfo(der: Uint8Array): PublicKeyInfo {
  return readPublicKeyInfoElement(readSingleElement(der));
}

export function readPublicKeyInfoElement(element: DerElement): PublicKeyInfo {
  const [algorithm, subjectPublicKey, ...rest] = readChildren(expectTag(element, DerTag.sequence, 'SubjectPublicKeyInfo'));
  if (rest.length > 0) throw new DerFramingError('SubjectPublicKeyInfo has extra fields');
  const [oid, parameters, ...more] = readChildren(expectTag(algorithm, DerTag.sequence, 'public key AlgorithmIdentifier'));
  if (more.length > 0) throw new DerFramingError('AlgorithmIdentifier has extra fields');
  return {
    der: element.bytes,
    algorithmOid: decodeObjectIdentifier(expectTag(oid, DerTag.objectIdentifier, 'public key algorithm')),
    parameters: parameters?.bytes ?? null,
    publicKey: bitStringOctets(expectTag(subjectPublicKey, DerTag.bitString, 'subjectPublicKey'), 'subjectPublicKey'),
  };
}

/**
 * The ccm key algorithm of `key`, or `unsupported-algorithm` naming what the
 * key is (e.g. "RSA-1024", "P-521", "DSA"). Framing errors surface as
 * `DerFramingError`.
 */
export function keyAlgorithmOf(key: PublicKeyInfo): KeyAlgorithm {
  switch (key.algorithmOid) {
    case PublicKeyOid.ed25519:
      if (key.parameters !== null) throw new DerFramingError('Ed25519 key with parameters (RFC 8410 §3 says absent)');
      if (key.publicKey.length !== 32) throw new DerFramingError('Ed25519 key is not 32 octets');
      return 'ed25519';
    case PublicKeyOid.ecPublicKey:
      return ellipticCurveAlgorithm(key);
    case PublicKeyOid.rsaEncryption:
      return rsaAlgorithm(key);
    default: {
      const name = OTHER_ALGORITHMS[key.algorithmOid] ?? `public key algorithm ${key.algorithmOid}`;
      throw unsupported(name);
    }
  }
}

function ellipticCurveAlgorithm(key: PublicKeyInfo): KeyAlgorithm {
  if (key.parameters === null) throw new DerFramingError('EC key without curve parameters');
  const parameters = readSingleElement(key.parameters);
  // RFC 5480 §2.1.1: namedCurve MUST be used; explicit curves cannot be checked for safety.
  if (parameters.tag !== DerTag.objectIdentifier) throw unsupported('EC key with explicit curve parameters');
  const curveOid = decodeObjectIdentifier(parameters);
  const curve = CURVES[curveOid];
  if (curve === undefined) throw unsupported(`EC key on curve ${curveOid}`);
  if (curve.algorithm === null) throw unsupported(`EC key on curve ${curve.name}`);
  return curve.algorithm;
}

function rsaAlgorithm(key: PublicKeyInfo): KeyAlgorithm {
  const { modulusBits, exponent } = readRsaPublicKey(key);
  const algorithm = RSA_SIZES[modulusBits];
  if (algorithm === undefined) throw unsupported(`RSA-${modulusBits}`);
  if (exponent !== RSA_EXPONENT) throw unsupported(`RSA-${modulusBits} with public exponent ${exponent}`);
  return algorithm;
}

/** RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } (RFC 8017 §A.1.1), for rsaEncryption and RSASSA-PSS keys alike. */
function readRsaPublicKey(key: PublicKeyInfo): { modulusBits: number; exponent: bigint } {
  const [modulus, exponent, ...rest] = readChildren(expectTag(readSingleElement(key.publicKey), DerTag.sequence, 'RSAPublicKey'));
  if (rest.length > 0) throw new DerFramingError('RSAPublicKey has extra fields');
  return {
    modulusBits: unsignedBitLength(expectTag(modulus, DerTag.integer, 'RSA modulus').content),
    exponent: BigInt(`0x${Buffer.from(expectTag(exponent, DerTag.integer, 'RSA exponent').content).toString('hex') || '0'}`),
  };
}

/** What a key is, whether or not ccm would issue for it. `name` is how messages and the audit trail call it ("RSA-1024", "P-521", "DSA"). */
export type PublicKeyDescription =
  | { readonly family: 'rsa'; readonly name: string; readonly modulusBits: number; readonly exponent: bigint }
  /** bits: null for a curve ccm does not know, or explicit curve parameters (RFC 5480 §2.1.1 says namedCurve MUST be used). */
  | { readonly family: 'ec'; readonly name: string; readonly bits: number | null }
  | { readonly family: 'eddsa'; readonly name: 'Ed25519' | 'Ed448' }
  /** Keys that cannot sign (X25519, X448), DSA, and algorithms ccm does not know. */
  | { readonly family: 'other'; readonly name: string };

/** The family and size of `key`. Framing errors surface as `DerFramingError`. */
export function describePublicKey(key: PublicKeyInfo): PublicKeyDescription {
  switch (key.algorithmOid) {
    case PublicKeyOid.rsaEncryption:
    case PublicKeyOid.rsassaPss: {
      const { modulusBits, exponent } = readRsaPublicKey(key);
      return { family: 'rsa', name: `RSA-${modulusBits}`, modulusBits, exponent };
    }
    case PublicKeyOid.ecPublicKey: {
      if (key.parameters === null) throw new DerFramingError('EC key without curve parameters');
      const parameters = readSingleElement(key.parameters);
      if (parameters.tag !== DerTag.objectIdentifier) return { family: 'ec', name: 'EC key with explicit curve parameters', bits: null };
      const curveOid = decodeObjectIdentifier(parameters);
      const curve = CURVES[curveOid];
      return curve === undefined ? { family: 'ec', name: `EC key on curve ${curveOid}`, bits: null } : { family: 'ec', name: curve.name, bits: curve.bits };
    }
    case PublicKeyOid.ed25519:
      if (key.parameters !== null || key.publicKey.length !== 32) throw new DerFramingError('malformed Ed25519 key (RFC 8410 §3, §4)');
      return { family: 'eddsa', name: 'Ed25519' };
    case PublicKeyOid.ed448:
      if (key.parameters !== null || key.publicKey.length !== 57) throw new DerFramingError('malformed Ed448 key (RFC 8410 §3, §4)');
      return { family: 'eddsa', name: 'Ed448' };
    default:
      return { family: 'other', name: OTHER_ALGORITHMS[key.algorithmOid] ?? `public key algorithm ${key.algorithmOid}` };
  }
}

function unsignedBitLength(content: Uint8Array): number {
  let start = 0;
  while (start < content.length && content[start] === 0) start++;
  if (start === content.length) return 0;
  return (content.length - start - 1) * 8 + (32 - Math.clz32(content[start]!));
}

function unsupported(what: string): DomainError {
  return new DomainError(
    'unsupported-algorithm',
    `${what} is not supported; use an ECDSA P-256 or P-384, Ed25519, or RSA 2048/3072/4096 (exponent 65537) key`,
    { algorithm: what },
  );
}

/**
 * The namedCurve parameter of P-256, whose uncompressed points go in as JWK.
 * Not P-384: a JWK import runs EC_KEY_check_key, whose multiplication by the
 * group order costs about 600 µs on P-384 (no optimized implementation), three
 * times a DER import; on P-256 it is cheap and JWK costs half of DER.
 */
const P256_PARAMETERS = encodeObjectIdentifier('1.2.840.10045.3.1.7');
const P256_COORDINATE_LENGTH = 32;

/**
 * The node:crypto public key for `key`, checked by OpenSSL on the way in (an
 * EC point must lie on its curve, an RSA key must parse); throws what
 * `createPublicKey` throws. With OpenSSL 3 a DER import runs the provider
 * decoder chain, which costs more than the key itself needs: measured on one
 * machine, 120 µs for P-256 against 60 µs by JWK, and 100-150 µs for Ed25519
 * against 5-15 µs. So P-256 keys with an uncompressed point and Ed25519 keys
 * go in as JWK. The checks are at least as strict: Node imports EC JWK with
 * EC_KEY_set_public_key_affine_coordinates, which refuses coordinates outside
 * the field and runs EC_KEY_check_key (on the curve, in the group), and an
 * Ed25519 key is any 32 octets either way. Compressed points, other curves,
 * RSA and everything else go in as DER.
 *
 * RFC 5480 §2.2 allows an EC point in uncompressed (0x04) or compressed (0x02,
 * 0x03) form only. OpenSSL also takes the hybrid form and the point at
 * infinity (a single 0x00), and a KeyObject holding the latter aborts the
 * process when its asymmetricKeyDetails are read, so both are refused here.
 */
export function importPublicKey(key: PublicKeyInfo): KeyObject {
  const point = key.publicKey;
  if (key.algorithmOid === PublicKeyOid.ecPublicKey && !(point[0] === 0x02 || point[0] === 0x03 || point[0] === 0x04)) {
    throw new Error('the EC point is neither compressed nor uncompressed (RFC 5480 §2.2)');
  }
  if (
    key.algorithmOid === PublicKeyOid.ecPublicKey &&
    point[0] === 0x04 &&
    point.length === 1 + 2 * P256_COORDINATE_LENGTH &&
    key.parameters !== null &&
    Buffer.from(key.parameters.buffer, key.parameters.byteOffset, key.parameters.length).equals(P256_PARAMETERS)
  ) {
    const x = Buffer.from(point.buffer, point.byteOffset + 1, P256_COORDINATE_LENGTH).toString('base64url');
    const y = Buffer.from(point.buffer, point.byteOffset + 1 + P256_COORDINATE_LENGTH, P256_COORDINATE_LENGTH).toString('base64url');
    return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x, y }, format: 'jwk' });
  }
  if (key.algorithmOid === PublicKeyOid.ed25519 && key.parameters === null && point.length === 32) {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(point.buffer, point.byteOffset, point.length).toString('base64url') }, format: 'jwk' });
  }
  return createPublicKey({ key: Buffer.from(key.der.buffer, key.der.byteOffset, key.der.length), format: 'der', type: 'spki' });
}
