/**
 * KeyCustody in memory, for unit tests of the CA role and the use cases:
 * keys are node:crypto key pairs that never leave the process, signatures
 * are real (so what is signed verifies), and every call is counted. A test
 * can make the next calls fail, as Vault does when it is down.
 */
import { KeyCustody, type CustodyKey, type CustodyReadiness } from '../../src/custody/key-custody.js';
import type { KeyAlgorithm } from '../../src/codec/key-algorithm.js';
import { CustodyError, CustodyKeyNotFound, CustodyUnavailable } from '../../src/shared/errors.js';
import { newTestKey, type TestKey } from './test-keys.js';

export class MemoryKeyCustody extends KeyCustody {
  readonly kind = 'memory';
  private readonly keys = new Map<string, { algorithm: KeyAlgorithm; key: TestKey }>();
  /** Every byte string signed, in order, with the key that signed it. */
  readonly signed: { keyName: string; data: Uint8Array }[] = [];
  /** Custody calls, in order: 'createKey:<name>', 'sign:<name>', 'getKey:<name>'. */
  readonly calls: string[] = [];
  /** When set, createKey and sign throw this kind of error instead. */
  failing: null | 'unavailable' | 'error' = null;
  /** When set, only sign fails (the key is made, the signature is not). */
  failingSign: null | 'unavailable' | 'error' = null;

  async createKey(name: string, algorithm: KeyAlgorithm): Promise<CustodyKey> {
    this.calls.push(`createKey:${name}`);
    this.failIf(this.failing);
    let entry = this.keys.get(name);
    if (entry && entry.algorithm !== algorithm) throw new CustodyError(`key ${name} exists with another algorithm`);
    if (!entry) {
      entry = { algorithm, key: await newTestKey(algorithm) };
      this.keys.set(name, entry);
    }
    return { name, algorithm, publicKeyDer: entry.key.spki };
  }

  async getKey(name: string): Promise<CustodyKey> {
    this.calls.push(`getKey:${name}`);
    this.failIf(this.failing);
    const entry = this.keys.get(name);
    if (!entry) throw new CustodyKeyNotFound(name);
    return { name, algorithm: entry.algorithm, publicKeyDer: entry.key.spki };
  }

  async sign(name: string, data: Uint8Array): Promise<Uint8Array> {
    this.calls.push(`sign:${name}`);
    this.failIf(this.failing ?? this.failingSign);
    const entry = this.keys.get(name);
    if (!entry) throw new CustodyKeyNotFound(name);
    const signature = await entry.key.signer.sign(data);
    this.signed.push({ keyName: name, data: Uint8Array.from(data) });
    return signature;
  }

  async readiness(): Promise<CustodyReadiness> {
    return this.failing ? { ready: false, reason: 'failing on purpose' } : { ready: true };
  }

  /** Puts a key in custody under `name` (a key made elsewhere, e.g. of another algorithm than a record says). */
  async addKey(name: string, algorithm: KeyAlgorithm): Promise<TestKey> {
    const key = await newTestKey(algorithm);
    this.keys.set(name, { algorithm, key });
    return key;
  }

  private failIf(failure: null | 'unavailable' | 'error'): void {
    if (failure === 'unavailable') throw new CustodyUnavailable('custody is down (test)');
    if (failure === 'error') throw new CustodyError('custody refused (test)');
  }
}
