/**
 * Key pairs generated for devices that do not bring a CSR, and their
 * encodings: the PKCS#8 PEM handed to the device and the SubjectPublicKeyInfo
 * put into its certificate. The private key is returned to the caller once
 * and never kept (DESIGN.md, "The trust chain"); this module holds no state.
 */
import { createECDH, createPublicKey, generateKeyPair, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { DeviceKeyAlgorithm } from './key-algorithm.js';
import { DerTag, contextTag, encodeElement, encodeObjectIdentifier } from './der.js';
import { encodePem } from './pem.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export interface DeviceKeyPair {
  /** PKCS#8 PEM ("PRIVATE KEY"), the form OpenSSL, Mosquitto and most TLS stacks read. */
  readonly privateKeyPem: string;
  /** DER SubjectPublicKeyInfo, to put into the certificate. */
  readonly subjectPublicKeyInfo: Uint8Array;
}

/**
 * EC keys are made with node:crypto's ECDH, which hands back the raw scalar
 * and point without a KeyObject, and encoded here (see encodeDeviceKeyPair
 * for why not through a generated KeyObject). Ed25519 and RSA keys are
 * generated as KeyObjects and exported with OpenSSL's encoders; RSA off the
 * event loop (libuv thread pool), since that takes tens to hundreds of ms.
 */
export async function generateDeviceKey(algorithm: DeviceKeyAlgorithm): Promise<DeviceKeyPair> {
  if (algorithm === 'ecdsa-p256' || algorithm === 'ecdsa-p384') return ellipticCurveKeyPair(algorithm);
  const { privateKey } = algorithm === 'ed25519' ? generateKeyPairSync('ed25519') : await generateKeyPairAsync('rsa', { modulusLength: 2048, publicExponent: 65537 });
  return opensslEncodings(privateKey);
}

function ellipticCurveKeyPair(algorithm: 'ecdsa-p256' | 'ecdsa-p384'): DeviceKeyPair {
  const curve = CURVES[algorithm];
  const ecdh = createECDH(algorithm === 'ecdsa-p256' ? 'prime256v1' : 'secp384r1');
  ecdh.generateKeys();
  const scalar = ecdh.getPrivateKey();
  // The scalar comes without leading zero octets; the encodings want it at the order's length.
  const padded = Buffer.concat([Buffer.alloc(curve.coordinateLength - scalar.length), scalar]);
  scalar.fill(0);
  const point = ecdh.getPublicKey(null, 'uncompressed');
  const coordinates = { d: padded.toString('base64url'), x: point.subarray(1, 1 + curve.coordinateLength).toString('base64url'), y: point.subarray(1 + curve.coordinateLength).toString('base64url') };
  padded.fill(0);
  return pemAndSpki(ellipticCurveEncodings(curve, coordinates));
}

function opensslEncodings(privateKey: KeyObject): DeviceKeyPair {
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return { privateKeyPem: String(privateKey.export({ format: 'pem', type: 'pkcs8' })), subjectPublicKeyInfo: new Uint8Array(spki.buffer, spki.byteOffset, spki.length) };
}

function pemAndSpki({ privateKeyInfo, subjectPublicKeyInfo }: Encodings): DeviceKeyPair {
  const privateKeyPem = encodePem(privateKeyInfo, 'PRIVATE KEY');
  // The PEM text is what leaves; the DER copy of the key need not wait in memory to be collected.
  privateKeyInfo.fill(0);
  return { privateKeyPem, subjectPublicKeyInfo };
}

/**
 * The PKCS#8 PEM and SPKI DER of `privateKey`, byte for byte what
 * `KeyObject.export` writes. With OpenSSL 3 each DER or PEM export runs the
 * provider encoder chain (150-190 µs apiece, more than generating an EC key),
 * while a JWK export is a few microseconds; so EC and Ed25519 keys are
 * exported once as JWK and their DER built here. RSA keys, generated rarely
 * and slowly anyway, keep the OpenSSL encoders.
 *
 * Only for keys that were imported, never for one fresh from
 * generateKeyPair(Sync): Node 20 holds the key's mutex while it builds the
 * JWK object, a garbage collection in between can destroy the key's
 * generation job, and that job's destructor takes the same mutex. The
 * process then hangs for good (seen under load: the stack shows
 * ExportJWKEcKey → GC → ~KeyGenJob → pthread_mutex_lock).
 */
export function encodeDeviceKeyPair(algorithm: DeviceKeyAlgorithm, privateKey: KeyObject): DeviceKeyPair {
  if (algorithm === 'rsa-2048') return opensslEncodings(privateKey);
  const jwk = privateKey.export({ format: 'jwk' });
  return pemAndSpki(algorithm === 'ed25519' ? ed25519Encodings(jwk) : ellipticCurveEncodings(CURVES[algorithm], jwk));
}

interface Encodings {
  readonly privateKeyInfo: Uint8Array;
  readonly subjectPublicKeyInfo: Uint8Array;
}

const VERSION_0 = Uint8Array.of(0x02, 0x01, 0x00);
const VERSION_1 = Uint8Array.of(0x02, 0x01, 0x01);
const NO_UNUSED_BITS = Uint8Array.of(0);

/** RFC 5480 §2.1.1: id-ecPublicKey with the namedCurve OID as parameters, the AlgorithmIdentifier of both the SPKI and the PKCS#8 key. */
const CURVES = {
  'ecdsa-p256': { algorithm: ecAlgorithmIdentifier('1.2.840.10045.3.1.7'), coordinateLength: 32 },
  'ecdsa-p384': { algorithm: ecAlgorithmIdentifier('1.3.132.0.34'), coordinateLength: 48 },
} as const;
// RFC 8410 §3: id-Ed25519 with parameters absent.
const ED25519_ALGORITHM = encodeElement(DerTag.sequence, encodeObjectIdentifier('1.3.101.112'));

function ecAlgorithmIdentifier(curveOid: string): Uint8Array {
  return encodeElement(DerTag.sequence, encodeObjectIdentifier('1.2.840.10045.2.1'), encodeObjectIdentifier(curveOid));
}

/**
 * PKCS#8 PrivateKeyInfo (RFC 5208 §5) around an RFC 5915 ECPrivateKey laid
 * out as OpenSSL writes it: version 1, the private key padded to the order's
 * length, no [0] parameters (they are in the PKCS#8 AlgorithmIdentifier;
 * RFC 5915 §3 lets them be left out), and the [1] publicKey as an
 * uncompressed point.
 */
function ellipticCurveEncodings(curve: (typeof CURVES)[keyof typeof CURVES], jwk: JsonWebKey): Encodings {
  const length = curve.coordinateLength;
  const point = encodeElement(DerTag.bitString, NO_UNUSED_BITS, Uint8Array.of(0x04), fixedLength(jwk.x, length), fixedLength(jwk.y, length));
  const ecPrivateKey = encodeElement(DerTag.sequence, VERSION_1, encodeElement(DerTag.octetString, fixedLength(jwk.d, length)), encodeElement(contextTag(1, true), point));
  return {
    privateKeyInfo: encodeElement(DerTag.sequence, VERSION_0, curve.algorithm, encodeElement(DerTag.octetString, ecPrivateKey)),
    subjectPublicKeyInfo: encodeElement(DerTag.sequence, curve.algorithm, point),
  };
}

/** RFC 8410 §7: version 0 (OpenSSL writes no public key), the 32-octet seed as a CurvePrivateKey OCTET STRING inside the privateKey OCTET STRING. */
function ed25519Encodings(jwk: JsonWebKey): Encodings {
  return {
    privateKeyInfo: encodeElement(DerTag.sequence, VERSION_0, ED25519_ALGORITHM, encodeElement(DerTag.octetString, encodeElement(DerTag.octetString, fixedLength(jwk.d, 32)))),
    subjectPublicKeyInfo: encodeElement(DerTag.sequence, ED25519_ALGORITHM, encodeElement(DerTag.bitString, NO_UNUSED_BITS, fixedLength(jwk.x, 32))),
  };
}

/** A JWK member as exactly `length` octets: Node writes them at full length (RFC 7518 §6.2.1.2, §6.2.2.1), which is checked, not assumed. */
function fixedLength(member: string | undefined, length: number): Uint8Array {
  const octets = Buffer.from(member ?? '', 'base64url');
  if (octets.length !== length) throw new Error(`JWK member is ${octets.length} octets, expected ${length}`);
  return octets;
}

