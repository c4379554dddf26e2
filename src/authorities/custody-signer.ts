/**
 * Turns a custody key into the `Signer` handle the encoder needs, so that
 * issuance code never sees more of a CA key than "sign these bytes".
 */
import type { KeyAlgorithm } from '../custody/key-algorithm.js';
import type { KeyCustody } from '../custody/key-custody.js';
import type { Signer } from '../codec/signer.js';

export function custodySigner(custody: KeyCustody, keyName: string, algorithm: KeyAlgorithm): Signer {
  // External and delegated CAs record '' here: their keys are the tenant's, and nothing may ask custody to sign for them.
  if (keyName === '') throw new Error('this CA has no custody key: its key is held by the tenant');
  return { algorithm, sign: (data) => custody.sign(keyName, data) };
}
