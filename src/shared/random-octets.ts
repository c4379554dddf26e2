/**
 * CSPRNG output drawn a few KiB at a time, as crypto.randomUUID does: a
 * getrandom call per id or serial number cost more than the rest of making
 * one. For unpredictable identifiers and serial numbers, never for keys.
 */
import { randomFillSync } from 'node:crypto';

const pool = Buffer.alloc(4096);
let offset = pool.length;

/** `length` fresh random octets (at most 64), in a buffer of their own. */
export function randomOctets(length: number): Buffer {
  if (length > 64) throw new RangeError('randomOctets serves at most 64 octets');
  if (offset + length > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const octets = Buffer.from(pool.subarray(offset, offset + length));
  // What was handed out does not stay behind in the pool.
  pool.fill(0, offset, offset + length);
  offset += length;
  return octets;
}
