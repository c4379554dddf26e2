/**
 * Key algorithms ccm can hold in custody or generate for devices, and the one
 * signature scheme each is used with. Keeping the pairing in one table is what
 * lets the issuance code write a `signatureAlgorithm` that matches the bytes
 * custody returns (RFC 5280 §4.1.1.2 requires the two to agree). Codec, not
 * custody: the encoders write these identifiers, and configuration, custody
 * and metrics all name keys by them.
 */

export const KEY_ALGORITHMS = ['ecdsa-p256', 'ecdsa-p384', 'ed25519', 'rsa-2048', 'rsa-3072', 'rsa-4096'] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

/** Device keys generated server-side; RSA above 2048 bits is too slow to generate on the request path. */
export const DEVICE_KEY_ALGORITHMS = ['ecdsa-p256', 'ecdsa-p384', 'ed25519', 'rsa-2048'] as const satisfies readonly KeyAlgorithm[];
export type DeviceKeyAlgorithm = (typeof DEVICE_KEY_ALGORITHMS)[number];

/** Hash used before signing; `null` for Ed25519, which signs the message itself (RFC 8032 PureEdDSA). */
export type SignatureHash = 'sha256' | 'sha384' | null;

export interface SignatureScheme {
  /** OID written into AlgorithmIdentifier of certificates, CRLs and CSRs signed with this key. */
  readonly signatureOid: string;
  /** RSA AlgorithmIdentifiers carry an explicit NULL parameter (RFC 4055 §5); ECDSA and Ed25519 carry none (RFC 5758 §3.2, RFC 8410 §3). */
  readonly nullParameters: boolean;
  readonly hash: SignatureHash;
}

const SCHEMES: Record<KeyAlgorithm, SignatureScheme> = {
  'ecdsa-p256': { signatureOid: '1.2.840.10045.4.3.2', nullParameters: false, hash: 'sha256' }, // ecdsa-with-SHA256
  'ecdsa-p384': { signatureOid: '1.2.840.10045.4.3.3', nullParameters: false, hash: 'sha384' }, // ecdsa-with-SHA384
  ed25519: { signatureOid: '1.3.101.112', nullParameters: false, hash: null }, // id-Ed25519
  'rsa-2048': { signatureOid: '1.2.840.113549.1.1.11', nullParameters: true, hash: 'sha256' }, // sha256WithRSAEncryption
  'rsa-3072': { signatureOid: '1.2.840.113549.1.1.11', nullParameters: true, hash: 'sha256' },
  'rsa-4096': { signatureOid: '1.2.840.113549.1.1.11', nullParameters: true, hash: 'sha256' },
};

export function signatureSchemeFor(algorithm: KeyAlgorithm): SignatureScheme {
  return SCHEMES[algorithm];
}

export function isKeyAlgorithm(value: unknown): value is KeyAlgorithm {
  return typeof value === 'string' && (KEY_ALGORITHMS as readonly string[]).includes(value);
}

export function isRsa(algorithm: KeyAlgorithm): boolean {
  return algorithm.startsWith('rsa-');
}
