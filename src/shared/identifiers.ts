/**
 * Record identifiers: UUIDv7 (RFC 9562 §5.7). Time-ordered, so keyset
 * pagination by id lists records in creation order and index inserts stay
 * at the right edge of the B-tree.
 */
import { randomOctets } from './random-octets.js';

let lastMs = 0;
let sequence = 0;

export function newId(now: number = Date.now()): string {
  const bytes = randomOctets(16);
  // Within one millisecond, a counter in rand_a keeps ids from one process ordered (RFC 9562 §6.2 method 1).
  if (now <= lastMs) {
    sequence = (sequence + 1) & 0xfff;
    if (sequence === 0) lastMs += 1;
    now = lastMs;
  } else {
    lastMs = now;
    sequence = bytes[6]! & 0x07; // start low so the counter has room
  }
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = 0x70 | (sequence >> 8);
  bytes[7] = sequence & 0xff;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isId(value: string): boolean {
  return UUID.test(value);
}
