/**
 * Verifying the signatures on things that come from outside: the
 * self-signature of a CSR (proof of possession, RFC 2986 §3) and a
 * certificate's signature by its issuer (RFC 5280 §6.1.3 (a)(1)). Uses
 * node:crypto; the algorithm comes from the signed object's
 * AlgorithmIdentifier. SHA-1 based algorithms are not accepted.
 */
import { verify, constants, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { RsaSaPssParams } from '@peculiar/asn1-rsa';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { DomainError } from '../shared/errors.js';
import { DerFramingError, DerTag, decodeObjectIdentifier, expectTag, readChildren, type DerElement } from './der.js';
import { PublicKeyOid, importPublicKey, type PublicKeyInfo } from './public-key.js';

export interface SignatureAlgorithm {
  readonly oid: string;
  /** DER of the parameters, or `null` when absent. */
  readonly parameters: Uint8Array | null;
  /** The whole AlgorithmIdentifier, for comparing the inner and outer copies (RFC 5280 §4.1.1.2). */
  readonly der: Uint8Array;
}

export function readSignatureAlgorithm(element: DerElement | undefined): SignatureAlgorithm {
  const [oid, parameters, ...rest] = readChildren(expectTag(element, DerTag.sequence, 'signature AlgorithmIdentifier'));
  if (rest.length > 0) throw new DerFramingError('AlgorithmIdentifier has extra fields');
  return {
    oid: decodeObjectIdentifier(expectTag(oid, DerTag.objectIdentifier, 'signature algorithm')),
    parameters: parameters?.bytes ?? null,
    der: element!.bytes,
  };
}

type Hash = 'sha256' | 'sha384' | 'sha512';

const HASH_OIDS: Record<string, Hash> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

const ECDSA: Record<string, Hash> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};

const RSA_PKCS1: Record<string, Hash> = {
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
};

const NAMED_UNSUPPORTED: Record<string, string> = {
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.2.840.10040.4.3': 'dsa-with-SHA1',
  '2.16.840.1.101.3.4.3.2': 'dsa-with-SHA256',
  '1.3.101.113': 'Ed448',
};

const RSASSA_PSS = '1.2.840.113549.1.1.10';
const MGF1 = '1.2.840.113549.1.1.8';
const NULL_PARAMETERS = Uint8Array.of(0x05, 0x00);

/**
 * A public key with node's KeyObject made once: for a key that verifies many
 * signatures (a CA's, for every certificate presented to authentication),
 * where making the KeyObject cost more than the verification itself.
 */
export interface VerificationKey {
  readonly info: PublicKeyInfo;
  /** null when node:crypto does not take the key (nothing verifies under it). */
  readonly keyObject: KeyObject | null;
}

export function verificationKeyOf(info: PublicKeyInfo): VerificationKey {
  try {
    return { info, keyObject: importPublicKey(info) };
  } catch {
    return { info, keyObject: null };
  }
}

interface VerificationPlan {
  readonly hash: Hash | null;
  readonly keyOids: readonly string[];
  readonly options: { padding?: number; saltLength?: number; dsaEncoding?: 'der' };
}

/**
 * Whether `signature` over `data` verifies under `key` with `algorithm`.
 * `false` when it does not, including when the key does not fit the algorithm;
 * `unsupported-algorithm` when ccm does not verify that algorithm at all.
 */
export function verifySignature(algorithm: SignatureAlgorithm, key: PublicKeyInfo | VerificationKey, data: Uint8Array, signature: Uint8Array): boolean {
  const plan = planFor(algorithm);
  const prepared = 'info' in key ? key : null;
  const info = prepared?.info ?? (key as PublicKeyInfo);
  if (!plan.keyOids.includes(info.algorithmOid)) return false;
  const publicKey = (prepared ?? verificationKeyOf(info)).keyObject;
  if (publicKey === null) return false;
  try {
    return verify(plan.hash, data, { key: publicKey, ...plan.options }, signature);
  } catch {
    // node:crypto throws rather than returning false on some malformed signatures (e.g. a bad ECDSA DER value).
    return false;
  }
}

function planFor(algorithm: SignatureAlgorithm): VerificationPlan {
  const ecdsaHash = ECDSA[algorithm.oid];
  if (ecdsaHash !== undefined) {
    // RFC 5758 §3.2: the parameters field MUST be absent.
    if (algorithm.parameters !== null) throw unsupported(`ECDSA signature algorithm ${algorithm.oid} with parameters`);
    return { hash: ecdsaHash, keyOids: [PublicKeyOid.ecPublicKey], options: { dsaEncoding: 'der' } };
  }
  const rsaHash = RSA_PKCS1[algorithm.oid];
  if (rsaHash !== undefined) {
    // RFC 4055 §5 says NULL; absent parameters are common enough in the wild to accept.
    if (algorithm.parameters !== null && !Buffer.from(algorithm.parameters).equals(NULL_PARAMETERS)) {
      throw unsupported(`RSA signature algorithm ${algorithm.oid} with parameters other than NULL`);
    }
    return { hash: rsaHash, keyOids: [PublicKeyOid.rsaEncryption], options: { padding: constants.RSA_PKCS1_PADDING } };
  }
  if (algorithm.oid === PublicKeyOid.ed25519) {
    // RFC 8410 §3: parameters MUST be absent.
    if (algorithm.parameters !== null) throw unsupported('Ed25519 signature algorithm with parameters');
    return { hash: null, keyOids: [PublicKeyOid.ed25519], options: {} };
  }
  if (algorithm.oid === RSASSA_PSS) return pssPlan(algorithm);
  throw unsupported(NAMED_UNSUPPORTED[algorithm.oid] ?? `signature algorithm ${algorithm.oid}`);
}

/** RFC 4055 §3.1. node:crypto derives MGF1's hash from the message hash, so only matching pairs are accepted. */
function pssPlan(algorithm: SignatureAlgorithm): VerificationPlan {
  if (algorithm.parameters === null) throw unsupported('RSASSA-PSS without parameters');
  let parameters: RsaSaPssParams;
  try {
    parameters = AsnConvert.parse(algorithm.parameters, RsaSaPssParams);
  } catch {
    throw unsupported('RSASSA-PSS with malformed parameters');
  }
  const hash = HASH_OIDS[parameters.hashAlgorithm.algorithm];
  if (hash === undefined) throw unsupported(`RSASSA-PSS with hash ${parameters.hashAlgorithm.algorithm}`);
  if (parameters.maskGenAlgorithm.algorithm !== MGF1 || parameters.maskGenAlgorithm.parameters == null) throw unsupported('RSASSA-PSS with a mask generation function other than MGF1');
  let mgfHash: string;
  try {
    // The MGF1 parameters are a bare hash AlgorithmIdentifier.
    mgfHash = AsnConvert.parse(parameters.maskGenAlgorithm.parameters, AlgorithmIdentifier).algorithm;
  } catch {
    throw unsupported('RSASSA-PSS with malformed MGF1 parameters');
  }
  if (HASH_OIDS[mgfHash] !== hash) throw unsupported('RSASSA-PSS with an MGF1 hash other than the message hash');
  if (parameters.trailerField !== 1) throw unsupported('RSASSA-PSS with a trailer field other than 1');
  return {
    hash,
    keyOids: [PublicKeyOid.rsaEncryption, PublicKeyOid.rsassaPss],
    options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: parameters.saltLength },
  };
}

function unsupported(what: string): DomainError {
  return new DomainError('unsupported-algorithm', `${what} is not supported`, { algorithm: what });
}
