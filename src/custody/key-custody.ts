/**
 * The custody port: the only place CA private keys live. The rest of ccm sees
 * a key as a name it can ask to sign with, never as key material (smallstep's
 * kms/apiv1 shape). Adapters: local (node:crypto, encrypted at rest) and vault
 * (HashiCorp Vault Transit, non-exportable keys).
 */
import type { KeyAlgorithm } from '../codec/key-algorithm.js';

export interface CustodyKey {
  /** Custody-side name, stable for the life of the key (what authorities store). */
  readonly name: string;
  readonly algorithm: KeyAlgorithm;
  /** DER SubjectPublicKeyInfo of the key. */
  readonly publicKeyDer: Uint8Array;
}

/** Whether custody can sign now; `reason` is log-safe (no token, no key material). */
export interface CustodyReadiness {
  readonly ready: boolean;
  readonly reason?: string;
}

export abstract class KeyCustody {
  /** `local` or `vault`: shown by readiness and the start-up log. */
  abstract readonly kind: string;

  /**
   * Creates a signing key under `name`, or returns the existing one when a key
   * of that name and algorithm is already there, so that a bootstrap that
   * crashed half-way can be run again. A key of that name with another
   * algorithm is a `CustodyError`.
   */
  abstract createKey(name: string, algorithm: KeyAlgorithm): Promise<CustodyKey>;

  /** The key's public half; `CustodyKeyNotFound` when there is no such key. */
  abstract getKey(name: string): Promise<CustodyKey>;

  /**
   * Signs `data` with the scheme that `signatureSchemeFor(key.algorithm)` names
   * and returns the bytes that go into an X.509 signatureValue: DER
   * Ecdsa-Sig-Value for ECDSA, the raw PKCS#1 v1.5 signature for RSA, the
   * 64-byte signature for Ed25519.
   */
  abstract sign(name: string, data: Uint8Array): Promise<Uint8Array>;

  /** For readiness probes: cheap, never throws, answers within the adapter's request timeout. */
  abstract readiness(): Promise<CustodyReadiness>;

  /** Ends background work and open connections (Vault's token renewal); the application calls it on shutdown. */
  close(): void {}
}
