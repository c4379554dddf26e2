/**
 * The signing handle the issuance encoders are given. Custody owns the key; the
 * encoder only learns which algorithm it is (to write a matching
 * signatureAlgorithm, RFC 5280 §4.1.1.2) and may ask it to sign bytes it has
 * built. Nothing here can read key material.
 */
import type { KeyAlgorithm } from './key-algorithm.js';

export interface Signer {
  readonly algorithm: KeyAlgorithm;
  /**
   * Signs `data` with the scheme `signatureSchemeFor(algorithm)` names and
   * returns what goes into signatureValue: a DER Ecdsa-Sig-Value for ECDSA, the
   * raw PKCS#1 v1.5 signature for RSA, the 64-byte signature for Ed25519.
   */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

