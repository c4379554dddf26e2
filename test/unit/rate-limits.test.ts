/** Token buckets of the per-credential rate limits, on a fixed clock; and their configuration. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenBuckets } from '../../src/access/rate-limits.js';
import { ConfigurationError, parseConfiguration } from '../../src/config/configuration.js';
import { FixedClock } from '../../src/shared/clock.js';

const START = new Date('2030-01-01T00:00:00Z');

test('a credential gets its burst at once, then one request per 1/rate seconds', () => {
  const clock = new FixedClock(START);
  const buckets = new TokenBuckets({ perSecond: 2, burst: 3 }, clock);
  for (let i = 0; i < 3; i++) assert.deepEqual(buckets.take('key-a'), { allowed: true });
  assert.deepEqual(buckets.take('key-a'), { allowed: false, retryAfterSeconds: 1 });
  clock.advance(499);
  assert.equal(buckets.take('key-a').allowed, false, 'half a token short of one');
  clock.advance(1);
  assert.deepEqual(buckets.take('key-a'), { allowed: true });
  assert.equal(buckets.take('key-a').allowed, false);
});

test('refused requests spend nothing, and Retry-After is rounded up to whole seconds', () => {
  const clock = new FixedClock(START);
  const buckets = new TokenBuckets({ perSecond: 1, burst: 1 }, clock);
  assert.equal(buckets.take('k').allowed, true);
  for (let i = 0; i < 10; i++) assert.deepEqual(buckets.take('k'), { allowed: false, retryAfterSeconds: 1 });
  clock.advance(1000);
  assert.equal(buckets.take('k').allowed, true);
  clock.advance(100);
  assert.deepEqual(buckets.take('k'), { allowed: false, retryAfterSeconds: 1 });
});

test('each key has its own bucket', () => {
  const buckets = new TokenBuckets({ perSecond: 1, burst: 1 }, new FixedClock(START));
  assert.equal(buckets.take('tenant-key').allowed, true);
  assert.equal(buckets.take('tenant-key').allowed, false);
  assert.equal(buckets.take('other-key').allowed, true);
});

test('a bucket never holds more than its burst, however long it was idle, nor refills when the clock steps back', () => {
  const clock = new FixedClock(START);
  const buckets = new TokenBuckets({ perSecond: 10, burst: 2 }, clock);
  assert.equal(buckets.take('k').allowed, true);
  clock.advance(3_600_000);
  assert.equal(buckets.take('k').allowed, true);
  assert.equal(buckets.take('k').allowed, true);
  assert.equal(buckets.take('k').allowed, false);
  clock.advance(-60_000);
  assert.equal(buckets.take('k').allowed, false);
});

test('perSecond 0 is no limit, and keeps no buckets', () => {
  const buckets = new TokenBuckets({ perSecond: 0, burst: 1 }, new FixedClock(START));
  for (let i = 0; i < 1000; i++) assert.equal(buckets.take(`k${i % 3}`).allowed, true);
  assert.equal(buckets.size, 0);
});

test('idle buckets are swept, and the number of buckets never passes the cap', () => {
  const clock = new FixedClock(START);
  const buckets = new TokenBuckets({ perSecond: 1, burst: 5 }, clock, 100);
  for (let i = 0; i < 1000; i++) {
    buckets.take(`made-up-${i}`);
    assert.ok(buckets.size <= 100, `${buckets.size} buckets after ${i + 1} keys`);
  }
  // The most recent keys are still counted; the least recently used were dropped.
  for (let i = 0; i < 4; i++) assert.equal(buckets.take('made-up-999').allowed, true);
  assert.equal(buckets.take('made-up-999').allowed, false);
  // After a minute every bucket has refilled to full and is forgotten at the next sweep.
  clock.advance(60_000);
  buckets.take('fresh');
  assert.equal(buckets.size, 1);
});

test('rate limits are configured per class; 0 disables, a burst below 1 is refused', () => {
  const defaults = parseConfiguration({}).rateLimits;
  assert.deepEqual(defaults, { issuance: { perSecond: 100, burst: 200 }, authentication: { perSecond: 2000, burst: 4000 } });
  const set = parseConfiguration({ CCM_RATE_LIMIT_ISSUANCE_PER_SECOND: '0', CCM_RATE_LIMIT_AUTHENTICATION_PER_SECOND: '5', CCM_RATE_LIMIT_AUTHENTICATION_BURST: '7' }).rateLimits;
  assert.deepEqual(set, { issuance: { perSecond: 0, burst: 200 }, authentication: { perSecond: 5, burst: 7 } });
  assert.throws(() => parseConfiguration({ CCM_RATE_LIMIT_ISSUANCE_BURST: '0' }), (error: unknown) => error instanceof ConfigurationError && error.problems[0]!.startsWith('CCM_RATE_LIMIT_ISSUANCE_BURST'));
  assert.throws(() => parseConfiguration({ CCM_RATE_LIMIT_AUTHENTICATION_PER_SECOND: '-1' }), ConfigurationError);
});

test('CORS origins must be exact origins; "*" and URLs with paths are refused at start-up', () => {
  assert.deepEqual(parseConfiguration({}).http.corsOrigins, []);
  assert.deepEqual(parseConfiguration({ CCM_CORS_ORIGINS: 'https://console.example.com, http://localhost:3000' }).http.corsOrigins, ['https://console.example.com', 'http://localhost:3000']);
  for (const bad of ['*', 'https://console.example.com/', 'https://Console.example.com', 'https://console.example.com:443', 'console.example.com', 'ftp://files.example.com']) {
    assert.throws(
      () => parseConfiguration({ CCM_CORS_ORIGINS: `https://ok.example.com,${bad}` }),
      (error: unknown) => error instanceof ConfigurationError && error.problems.length === 1 && error.problems[0]!.startsWith('CCM_CORS_ORIGINS'),
      bad,
    );
  }
  assert.equal(parseConfiguration({}).http.maxHeaderBytes, 16384);
  assert.throws(() => parseConfiguration({ CCM_MAX_HEADER_BYTES: '100' }), ConfigurationError);
});
