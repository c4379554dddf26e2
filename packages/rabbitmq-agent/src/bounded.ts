/**
 * Running a batch of broker requests a few at a time. Every item is tried
 * even when some fail (what succeeded is recorded by the caller and skipped
 * on the retry), then the failures are thrown together.
 */
import { RabbitMqAdapterError } from './errors.js';

/** Some requests of a batch failed; `failures` holds each one's error. */
export class RabbitMqBatchError extends RabbitMqAdapterError {
  constructor(
    readonly operation: string,
    readonly failures: readonly unknown[],
    readonly attempted: number,
  ) {
    super(`${operation}: ${failures.length} of ${attempted} requests failed; first: ${(failures[0] as Error)?.message ?? String(failures[0])}`, { cause: failures[0] });
  }
}

export async function eachBounded<T>(operation: string, items: readonly T[], concurrency: number, run: (item: T) => Promise<void>): Promise<void> {
  if (items.length === 0) return;
  const failures: unknown[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await run(item);
      } catch (error) {
        failures.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (failures.length === 1 && items.length === 1) throw failures[0];
  if (failures.length > 0) throw new RabbitMqBatchError(operation, failures, items.length);
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += size) result.push(items.slice(i, i + size));
  return result;
}
