/**
 * KeyCustody that times every signature of the adapter it wraps, by custody
 * kind and key algorithm, as long as the caller waited (so a Vault Transit
 * batch's queueing counts). Signing is handed a key name only; its
 * algorithm is learnt once per key from what the adapter reports, which
 * both adapters keep in memory after the first use anyway.
 */
import { CustodyMetrics, secondsSince } from '../metrics/metrics.js';
import { KeyCustody, type CustodyKey, type CustodyReadiness } from './key-custody.js';
import type { KeyAlgorithm } from '../codec/key-algorithm.js';

export class MeasuredKeyCustody extends KeyCustody {
  private readonly algorithms = new Map<string, KeyAlgorithm>();

  constructor(
    private readonly custody: KeyCustody,
    private readonly metrics: CustodyMetrics,
  ) {
    super();
  }

  get kind(): string {
    return this.custody.kind;
  }

  async createKey(name: string, algorithm: KeyAlgorithm): Promise<CustodyKey> {
    return this.learn(await this.custody.createKey(name, algorithm));
  }

  async getKey(name: string): Promise<CustodyKey> {
    return this.learn(await this.custody.getKey(name));
  }

  async sign(name: string, data: Uint8Array): Promise<Uint8Array> {
    const algorithm = this.algorithms.get(name) ?? (await this.getKey(name)).algorithm;
    const startedAt = performance.now();
    const signature = await this.custody.sign(name, data);
    this.metrics.signed(this.custody.kind, algorithm, secondsSince(startedAt));
    return signature;
  }

  readiness(): Promise<CustodyReadiness> {
    return this.custody.readiness();
  }

  override close(): void {
    this.custody.close();
  }

  private learn(key: CustodyKey): CustodyKey {
    this.algorithms.set(key.name, key.algorithm);
    return key;
  }
}
