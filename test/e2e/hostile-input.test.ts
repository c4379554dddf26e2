/**
 * Property-based hostile input (fast-check) against a running ccm on
 * PostgreSQL + local custody: thousands of malformed and hostile requests
 * (random DER, truncated and bit-flipped PEM of a real certificate, CSR and
 * OCSP request, JSON of wrong types, deep nesting, huge values, unicode with
 * lone surrogates, NUL and bidi overrides, prototype-pollution keys, path
 * segments with "..", "%00" and bad percent-encoding) at the public and
 * device-facing routes. For every one: no 5xx; a refusal is problem+json
 * with a urn:ccm:problem: type (OCSP answers in OCSP's own terms, never with
 * internalError); and nothing is stored. The rate limits are switched off so
 * that they do not answer in the routes' place.
 */
import 'reflect-metadata'; // @peculiar/x509 needs it loaded first
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import * as x509 from '@peculiar/x509';
import fc from 'fast-check';
import { TestInstallation, type CcmUnderTest } from '../support/ccm-under-test.js';
import { openssl, pemBlocks, Scratch } from '../support/openssl.js';

const PROBLEM = 'urn:ccm:problem:';
/** The tables a refused request must not add to (audit_log is left out: refusals are audited). */
const STORED_TABLES = ['certificates', 'tenants', 'authorities', 'outbox', 'api_credentials', 'enrollment_credentials'] as const;
/** Runs per route (fewer for EST, where each request costs a scrypt hash, and the administrator routes); the whole file stays under a minute on two cores. */
const RUNS = 400;

// ---------------------------------------------------------------------------
// Hostile building blocks
// ---------------------------------------------------------------------------

const LONE_SURROGATES = ['\uD800', '\uDBFF', '\uDC00', '\uDFFF'];
/**
 * Characters no text field of ccm may take (src/codec/subject-text.ts): C0 controls (NUL first), DEL, C1 controls (CSI among them),
 * format characters (bidi overrides and isolates, zero-width ones, BOM, soft hyphen), line and paragraph separators, noncharacters, and
 * lone surrogates (not Unicode text at all).
 */
const POISON_CHARACTERS = [
  '\u0000', '\u0001', '\u0007', '\u001b', '\u001f', '\u007f', '\u0085', '\u009b',
  '\u00AD', '\u202E', '\u202D', '\u2066', '\u200B', '\u200D', '\uFEFF', '\u2028', '\u2029', '\uFFFF', '\u{10FFFF}',
  ...LONE_SURROGATES,
];
const HOSTILE_PIECES = [
  '\uFFFD', '\u{1F4A9}', 'e\u0301', '\u0130', 'ß', 'ǅ',
  '..', '../', '..\\', '%00', '%2e%2e%2f', '%', '\r\n', '\n', '\t', '"', "'", '\\', '/', '<script>', '${jndi:ldap://x}', '{{7*7}}', "' OR 1=1 --",
  '-----BEGIN CERTIFICATE-----', '=', ',', 'CN=', '+', ' ', '',
];
const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', '__lookupSetter__'];

const hostilePiece = fc.oneof(fc.constantFrom(...HOSTILE_PIECES, ...POISON_CHARACTERS), fc.string({ unit: 'binary', maxLength: 12 }), fc.string({ maxLength: 12 }));

/** Text with at least one poison character somewhere among other hostile pieces. */
const poisonedText = fc
  .tuple(fc.array(hostilePiece, { maxLength: 16 }), fc.constantFrom(...POISON_CHARACTERS), fc.nat())
  .map(([pieces, poison, at]) => {
    pieces.splice(at % (pieces.length + 1), 0, poison);
    return pieces.join('');
  });

/** Up to past the body limit, in one- to four-byte characters. */
const hugeText = fc
  .tuple(fc.integer({ min: 1_000, max: 70_000 }), fc.constantFrom('A', 'é', '\u{1F4A9}', '9', '\u0000', '\uD800', '/'))
  .map(([length, character]) => character.repeat(Math.ceil(length / character.length)));

const anyText = fc.oneof(
  { weight: 3, arbitrary: poisonedText },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 80 }) },
  { weight: 1, arbitrary: hugeText },
);

const anyJson = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  anyText,
  fc.constantFrom(Number.MAX_SAFE_INTEGER + 2, -1, 0, 1.5, -0, 1e308, 2 ** 53, -(2 ** 31)),
  fc.array(anyText, { maxLength: 4 }),
);

/** A JSON value of any type but `type`. */
function wrongTypeFor(type: 'string' | 'integer' | 'boolean'): fc.Arbitrary<unknown> {
  return fc.jsonValue({ maxDepth: 2 }).filter((value) => {
    if (type === 'string') return typeof value !== 'string';
    if (type === 'integer') return !Number.isInteger(value);
    return typeof value !== 'boolean';
  });
}

/** The text of a JSON document `depth` levels deep, inside `field` when given. */
function deeplyNested(field: string | null): fc.Arbitrary<string> {
  return fc.tuple(fc.integer({ min: 50, max: 9_000 }), fc.boolean()).map(([depth, arrays]) => {
    const nested = arrays ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    return field === null ? nested : `{${JSON.stringify(field)}:${nested}}`;
  });
}

/** Numbers JSON can write but JavaScript cannot hold: thousands of digits, huge exponents. */
function longNumber(field: string): fc.Arbitrary<string> {
  return fc
    .tuple(fc.integer({ min: 20, max: 20_000 }), fc.constantFrom('', '-', '0.', '1e', '1e-'))
    .map(([digits, prefix]) => `{${JSON.stringify(field)}:${prefix}${'9'.repeat(digits)}}`);
}

/**
 * A JSON object with the route's own fields holding anything, plus at least
 * one member that makes it invalid whatever the others hold: an unknown or
 * prototype-polluting key, a known field of the wrong type, or a known text
 * field with a poison character or over its length.
 */
function poisonedObject(fields: Record<string, 'string' | 'integer' | 'boolean'>, poisonableText: readonly string[]): fc.Arbitrary<string> {
  const names = Object.keys(fields);
  const unknownKey = fc.oneof(fc.constantFrom(...PROTOTYPE_KEYS), poisonedText, fc.string({ unit: 'binary', minLength: 1, maxLength: 30 })).filter((key) => !names.includes(key));
  const poison: fc.Arbitrary<[string, unknown]> = fc.oneof(
    fc.tuple(unknownKey, anyJson),
    fc.constantFrom(...names).chain((name) => fc.tuple(fc.constant(name), wrongTypeFor(fields[name]!))),
    ...(poisonableText.length > 0 ? [fc.tuple(fc.constantFrom(...poisonableText), fc.oneof(poisonedText, hugeText))] : []),
  );
  return fc.tuple(fc.dictionary(fc.constantFrom(...names), anyJson, { maxKeys: names.length }), poison).map(([members, [key, value]]) =>
    // Object.fromEntries makes "__proto__" an own member, which JSON.stringify then writes like any other.
    JSON.stringify(Object.fromEntries([...Object.entries(members).filter(([name]) => name !== key), [key, value]])),
  );
}

interface HostileRequest {
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: Buffer | string;
}

/** JSON-ish bodies for a JSON route: poisoned objects, wrong top-level types, broken syntax, deep nesting, long numbers, raw bytes. */
function hostileJsonBody(fields: Record<string, 'string' | 'integer' | 'boolean'>, poisonableText: readonly string[], pemFields: Record<string, fc.Arbitrary<string>>): fc.Arbitrary<{ contentType: string; body: Buffer | string }> {
  const field = Object.keys(fields)[0]!;
  const json = (arbitrary: fc.Arbitrary<string>) => arbitrary.map((body) => ({ contentType: 'application/json', body }));
  return fc.oneof(
    { weight: 6, arbitrary: json(poisonedObject(fields, poisonableText)) },
    ...Object.entries(pemFields).map(([name, pem]) => ({ weight: 4, arbitrary: json(pem.map((value) => JSON.stringify({ [name]: value }))) })),
    { weight: 1, arbitrary: json(fc.oneof(fc.jsonValue({ maxDepth: 2 }).filter((value) => typeof value !== 'object' || value === null || Array.isArray(value)), anyText).map((value) => JSON.stringify(value))) },
    { weight: 1, arbitrary: json(fc.oneof(deeplyNested(null), deeplyNested(field))) },
    { weight: 1, arbitrary: json(longNumber(field)) },
    { weight: 1, arbitrary: json(fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.constantFrom('', '{', '{"', `{"${field}":`, 'null', '[]', '{"a":1,"a":2}', '{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"admin":true}}}'))) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2_000 }).map((bytes) => ({ contentType: 'application/json', body: Buffer.from(bytes) })) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/pkcs10', 'application/ocsp-request', 'application/json; charset=latin1', 'multipart/form-data; boundary=x', 'application/xml'), poisonedObject(fields, poisonableText)).map(([contentType, body]) => ({ contentType, body })) },
  );
}

/** Base64 of DER, as PEM with `label`, 64 characters a line. */
function pem(der: Uint8Array, label: string): string {
  return `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END ${label}-----\n`;
}

/** What a lenient reader would decode from the first PEM block (whitespace and trailing bits ignored). */
function leniently(text: string): string | null {
  const match = /-----BEGIN ([^-]*)-----([\s\S]*?)-----END/.exec(text);
  return match ? `${match[1]}:${Buffer.from(match[2]!.replace(/[^A-Za-z0-9+/]/g, ''), 'base64').toString('hex')}` : null;
}

/**
 * DER mutated past being the original: truncated, a bit flipped, bytes
 * inserted or cut out, a length made huge, or random bytes.
 */
function mutatedDer(original: Uint8Array): fc.Arbitrary<Uint8Array> {
  const bytes = Buffer.from(original);
  return fc.oneof(
    fc.integer({ min: 0, max: bytes.length - 1 }).map((length) => bytes.subarray(0, length)),
    fc.tuple(fc.integer({ min: 0, max: bytes.length - 1 }), fc.integer({ min: 0, max: 7 })).map(([at, bit]) => {
      const copy = Buffer.from(bytes);
      copy[at] = copy[at]! ^ (1 << bit);
      return copy;
    }),
    fc.tuple(fc.integer({ min: 0, max: bytes.length }), fc.uint8Array({ minLength: 1, maxLength: 40 })).map(([at, inserted]) => Buffer.concat([bytes.subarray(0, at), inserted, bytes.subarray(at)])),
    fc.tuple(fc.integer({ min: 0, max: bytes.length - 1 }), fc.integer({ min: 1, max: 40 })).map(([at, cut]) => Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + cut)])),
    // An outer length claiming gigabytes; indefinite-length BER; deep nesting.
    fc.constantFrom(Buffer.concat([Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]), bytes.subarray(4)]), Buffer.concat([Buffer.from([0x30, 0x80]), bytes.subarray(4), Buffer.from([0, 0])])),
    fc.integer({ min: 10, max: 5_000 }).map((depth) => Buffer.concat([...Array.from({ length: depth }, () => Buffer.from([0x30, 0x80])), Buffer.alloc(depth * 2)])),
    fc.uint8Array({ minLength: 0, maxLength: 3_000 }).map((random) => Buffer.from(random)),
  );
}

/** PEM of `der` (labelled `label`) garbled in text or in DER, never still decoding to the original. */
function garbledPem(der: Uint8Array, label: string): fc.Arbitrary<string> {
  const original = pem(der, label);
  const unchanged = leniently(original);
  return fc
    .oneof(
      mutatedDer(der).map((mutated) => pem(mutated, label)),
      fc.integer({ min: 0, max: original.length - 1 }).map((length) => original.slice(0, length)),
      fc.tuple(fc.integer({ min: 0, max: original.length - 1 }), hostilePiece).map(([at, piece]) => original.slice(0, at) + piece + original.slice(at + 1)),
      fc.tuple(fc.integer({ min: 0, max: original.length }), fc.oneof(poisonedText, fc.constantFrom(...HOSTILE_PIECES))).map(([at, inserted]) => original.slice(0, at) + inserted + original.slice(at)),
      fc.constantFrom('CERTIFICATE REQUEST', 'CERTIFICATE', 'PRIVATE KEY', 'X509 CRL', 'PKCS7', '', 'CERTIFICATE\u0000', 'CERTIFICATE\u202E').filter((other) => other !== label).map((other) => pem(der, other)),
      fc.uint8Array({ maxLength: 2_000 }).map((random) => pem(random, label)),
      fc.constant(original.replace(/-----END [A-Z ]+-----\n$/, '')),
      fc.constant(`-----BEGIN ${label}-----\n${original}`),
    )
    .filter((text) => leniently(text) !== unchanged);
}

/** Path segments: over-long ids, "..", NUL, bad percent-encoding, raw bytes 0x80-0xff (not UTF-8), and encoded unicode. */
const hostileSegment = fc.oneof(
  fc.constantFrom('..', '.', '%2e%2e', '%2E%2E%2F', '..%2F..%2Fetc%2Fpasswd', '%00', 'x%00.crl', '%', '%zz', '%E0%A4%A', '%C0%AE', '%FF', ';', '?', '#', '~', '*', '%2F', 'null', 'undefined', '0', '-1', 'NaN'),
  fc.string({ unit: 'binary', maxLength: 60 }).map((text) => encodeURIComponent(text)),
  poisonedText.map((text) => encodeURIComponent(text.replace(/[\uD800-\uDFFF]/g, '\uFFFD'))),
  fc.uint8Array({ minLength: 1, maxLength: 40 }).map((bytes) => [...bytes].map((byte) => (byte > 0x80 && byte <= 0xff ? String.fromCharCode(byte) : `%${byte.toString(16).padStart(2, '0')}`)).join('')),
  fc.integer({ min: 37, max: 6_000 }).map((length) => 'a'.repeat(length)),
  fc.uuid().map((id) => `${id}x`),
  fc.uuid().map((id) => id.toUpperCase()),
  fc.uuid(),
);

/** Header values Node will send (no CR, LF or NUL); hostile all the same. */
const hostileHeaderValue = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).filter((code) => code !== 0x7f).map((code) => String.fromCharCode(code)), maxLength: 200 }),
  fc.constantFrom('Bearer', 'Bearer ', 'Bearer  x', 'Basic', 'Basic ====', 'Basic Og==', 'Basic OjpA', 'bearer ' + 'a'.repeat(4_000), 'Bearer \t', 'Negotiate x', 'Bearer ccm_', 'Bearer ccm_x.y'),
);

/** Usually `usual`, one time in five something hostile. */
function mostly<T>(usual: T, hostile: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return fc.oneof({ weight: 4, arbitrary: fc.constant(usual) }, { weight: 1, arbitrary: hostile });
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

describe('hostile input on PostgreSQL + local custody', () => {
  let installation: TestInstallation;
  let ccm: CcmUnderTest;
  let scratch: Scratch;
  let agent: http.Agent;
  let tenantId: string;
  let authorityId: string;
  let tenantKey: string;
  let brokerKey: string;
  let enrollmentBasic: string;
  let certificateDer: Uint8Array;
  let csrDer: Uint8Array;
  let ocspRequestDer: Uint8Array;
  let baseline: Record<string, number>;

  before(async () => {
    installation = await TestInstallation.create({ database: 'postgres', custody: 'local' }, { CCM_RATE_LIMIT_ISSUANCE_PER_SECOND: '0', CCM_RATE_LIMIT_AUTHENTICATION_PER_SECOND: '0' });
    ccm = await installation.start();
    scratch = await Scratch.create();
    agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const tenant = (await ccm.api().post('/v1/tenants').send({ name: `hostile-${Date.now()}` }).expect(201)).body;
    tenantId = tenant.id;
    authorityId = tenant.rootAuthority.id;
    tenantKey = await ccm.createApiKey('tenant', tenantId, 'fuzzed-tenant');
    brokerKey = await ccm.createApiKey('broker', undefined, 'fuzzed-broker');
    const credential = (await ccm.api().post(`/v1/tenants/${tenantId}/enrollment-credentials`).send({ name: 'fuzzed line' }).expect(201)).body;
    enrollmentBasic = `Basic ${Buffer.from(`${credential.id}:${credential.secret}`).toString('base64')}`;
    csrDer = new Uint8Array((await webCryptoCsr('fuzzed-device')).rawData);
    const issued = (await ccm.api(tenantKey).post(`/v1/tenants/${tenantId}/certificates`).send({ csr: pem(csrDer, 'CERTIFICATE REQUEST'), ttlSeconds: 86_400 }).expect(201)).body;
    certificateDer = Buffer.from(issued.certificatePem.replace(/-----[A-Z ]+-----|\s+/g, ''), 'base64');
    // Its first use is behind it, so a broker's question about it changes no state (and writes no event).
    await ccm.api(brokerKey).post('/v1/authentications').send({ certificatePem: issued.certificatePem }).expect(200);
    const chainPem = (await ccm.api().get(`/v1/tenants/${tenantId}/ca-chain`).expect(200)).text;
    const rootPath = await scratch.write('root.pem', pemBlocks(chainPem)[0]!);
    const leafPath = await scratch.write('leaf.pem', issued.certificatePem);
    const requestPath = scratch.path('ocsp-request.der');
    const made = await openssl(['ocsp', '-issuer', rootPath, '-cert', leafPath, '-no_nonce', '-reqout', requestPath]);
    assert.equal(made.code, 0, made.stderr);
    ocspRequestDer = new Uint8Array(await import('node:fs/promises').then((fs) => fs.readFile(requestPath)));
    baseline = await rowCounts(installation);
  });

  after(async () => {
    agent?.destroy();
    await ccm?.close();
    await installation?.destroy();
    await scratch?.cleanup();
  });

  /** Sends `request` and checks the answer: below 500, a refusal (every answer here should be one) as typed problem+json. */
  async function refusedProperly(request: HostileRequest): Promise<void> {
    const answer = await send(ccm.url, agent, request);
    const shown = `${request.method} ${request.path.slice(0, 200)} ${String(request.body ?? '').slice(0, 200)} → ${answer.status} ${answer.body.toString('utf8').slice(0, 300)}`;
    assert.ok(answer.status < 500, shown);
    assert.ok(answer.status >= 400, `hostile input accepted: ${shown}`);
    assertProblem(answer, shown);
  }

  /** OCSP: errors in OCSP's own terms with 200, or a problem for what is not OCSP at all (wrong method or media type); never internalError or tryLater. */
  async function answeredAsOcsp(request: HostileRequest): Promise<void> {
    const answer = await send(ccm.url, agent, request);
    const shown = `${request.method} ${request.path.slice(0, 200)} → ${answer.status} ${answer.body.toString('hex').slice(0, 80)}`;
    assert.ok(answer.status < 500, shown);
    if (answer.status === 200) {
      assert.equal(answer.headers['content-type'], 'application/ocsp-response', shown);
      const status = ocspResponseStatus(answer.body);
      assert.ok(status !== null && [0, 1, 5, 6].includes(status), `OCSP responseStatus ${status}: ${shown}`);
    } else {
      assert.ok(answer.status >= 400, shown);
      assertProblem(answer, shown);
    }
  }

  async function assertNothingStored(): Promise<void> {
    assert.deepEqual(await rowCounts(installation), baseline);
  }

  test('POST /v1/tenants/{id}/certificates as the tenant', async () => {
    const body = hostileJsonBody({ csr: 'string', commonName: 'string', ttlSeconds: 'integer', keyAlgorithm: 'string' }, ['commonName', 'keyAlgorithm', 'csr'], {
      csr: fc.oneof(garbledPem(csrDer, 'CERTIFICATE REQUEST'), garbledPem(certificateDer, 'CERTIFICATE REQUEST'), mutatedDer(csrDer).map((der) => Buffer.from(der).toString('base64'))),
    });
    await holds(
      fc.asyncProperty(mostly(tenantId, hostileSegment), body, async (segment, { contentType, body }) => {
        const path = `/v1/tenants/${segment}/certificates`;
        await refusedProperly({ method: 'POST', path, headers: { authorization: `Bearer ${tenantKey}`, 'content-type': contentType }, body });
      }),
      RUNS,
    );
    await assertNothingStored();
  });

  test('POST /v1/authentications as the broker', async () => {
    const body = hostileJsonBody({ certificatePem: 'string', issuer: 'string', serialNumber: 'string' }, ['issuer', 'serialNumber', 'certificatePem'], {
      certificatePem: garbledPem(certificateDer, 'CERTIFICATE'),
      issuer: anyText,
      serialNumber: fc.oneof(anyText, fc.integer({ min: 1, max: 5_000 }).map((length) => '0'.repeat(length) + 'f')),
    });
    await holds(
      fc.asyncProperty(body, async ({ contentType, body }) => {
        await refusedProperly({ method: 'POST', path: '/v1/authentications', headers: { authorization: `Bearer ${brokerKey}`, 'content-type': contentType }, body });
      }),
      RUNS,
    );
    await assertNothingStored();
  });

  test('POST /ocsp/{authorityId} and GET /ocsp/{authorityId}/{request}', async () => {
    const requestDer = fc.oneof(mutatedDer(ocspRequestDer), mutatedDer(certificateDer));
    const authority = fc.oneof(fc.constant(authorityId), hostileSegment);
    const post = fc.tuple(authority, requestDer, fc.constantFrom('application/ocsp-request', 'application/ocsp-request', 'application/json', 'application/octet-stream')).map(
      ([id, der, contentType]): HostileRequest => ({ method: 'POST', path: `/ocsp/${id}`, headers: { 'content-type': contentType }, body: Buffer.from(der) }),
    );
    const encoded = fc.oneof(
      requestDer.map((der) => encodeURIComponent(Buffer.from(der).toString('base64'))),
      requestDer.map((der) => Buffer.from(der).toString('base64')),
      requestDer.map((der) => Buffer.from(der).toString('base64url')),
      hostileSegment,
      fc.tuple(hostileSegment, hostileSegment).map(([a, b]) => `${a}/${b}`),
    );
    const get = fc.tuple(authority, encoded).map(([id, request]): HostileRequest => ({ method: 'GET', path: `/ocsp/${id}/${request}`, headers: {} }));
    await holds(fc.asyncProperty(fc.oneof(post, get), answeredAsOcsp), RUNS);
    await assertNothingStored();
  });

  test('GET /crl/{file}', async () => {
    const file = fc.oneof(
      hostileSegment,
      hostileSegment.map((segment) => `${segment}.crl`),
      fc.tuple(fc.constant(authorityId), fc.constantFrom('-0', '-01', '-99999999999', '-1e5', '--1', '-1.5', '.CRL', '.crl%00', '.crl/..', '%2Ecrl%2F', '%00', '-', '-%2D1', '.crl.crl'), fc.constantFrom('.crl', '')).map(([id, shard, suffix]) => `${id}${shard}${suffix}`),
    );
    await holds(fc.asyncProperty(file, async (name) => refusedProperly({ method: 'GET', path: `/crl/${name}`, headers: {} })), RUNS);
    await assertNothingStored();
  });

  test('POST /.well-known/est/{tenant}/simpleenroll with a real enrollment credential', async () => {
    const base64 = (der: Uint8Array) => Buffer.from(der).toString('base64');
    // As EST reads a body: whitespace dropped, base64 decoded (padding optional). Dropping only the padding is no garbling.
    const stillTheCsr = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'base64').equals(Buffer.from(csrDer));
    const body = fc
      .oneof(
        { weight: 4, arbitrary: mutatedDer(csrDer).map(base64) },
        { weight: 1, arbitrary: mutatedDer(certificateDer).map(base64) },
        { weight: 1, arbitrary: garbledPem(csrDer, 'CERTIFICATE REQUEST') },
        { weight: 1, arbitrary: fc.integer({ min: 1, max: base64(csrDer).length - 1 }).map((length) => base64(csrDer).slice(0, length)) },
        { weight: 1, arbitrary: anyText },
      )
      .filter((text) => !stillTheCsr(text));
    const request = fc.tuple(
      mostly(tenantId, hostileSegment),
      body,
      mostly('application/pkcs10', fc.constantFrom('application/json', 'text/plain', 'application/pkcs10; charset=utf-16', 'application/ocsp-request')),
      mostly(enrollmentBasic, hostileHeaderValue),
    );
    await holds(
      fc.asyncProperty(request, async ([segment, text, contentType, authorization]) => {
        await refusedProperly({
          method: 'POST',
          path: `/.well-known/est/${segment}/simpleenroll`,
          headers: { authorization, 'content-type': contentType },
          body: Buffer.from(text.replace(/[\uD800-\uDFFF]/g, '\uFFFD'), contentType.includes('utf-16') ? 'utf16le' : 'utf8'),
        });
      }),
      RUNS / 2,
    );
    await assertNothingStored();
  });

  test('PUT /v1/platform-ca/certificate as the administrator', async () => {
    const body = hostileJsonBody({ certificatePem: 'string', issuerChainPem: 'string' }, ['certificatePem', 'issuerChainPem'], {
      certificatePem: fc.oneof(garbledPem(certificateDer, 'CERTIFICATE'), fc.constant(pem(certificateDer, 'CERTIFICATE'))),
      issuerChainPem: garbledPem(certificateDer, 'CERTIFICATE'),
    });
    await holds(
      fc.asyncProperty(body, async ({ contentType, body }) => {
        await refusedProperly({ method: 'PUT', path: '/v1/platform-ca/certificate', headers: { authorization: `Bearer ${ccm.adminKey}`, 'content-type': contentType }, body });
      }),
      RUNS / 2,
    );
    await assertNothingStored();
  });

  test('POST /v1/tenants as the administrator', async () => {
    const body = hostileJsonBody({ name: 'string', maxTtlSeconds: 'integer' }, ['name'], { name: fc.oneof(poisonedText, hugeText, fc.constantFrom('..', '../etc', '.hidden', '-x', 'x/y', 'a\u202Eb', 'a\u0000', 'é', '', ' ', 'x'.repeat(129))) });
    await holds(
      fc.asyncProperty(body, async ({ contentType, body }) => {
        await refusedProperly({ method: 'POST', path: '/v1/tenants', headers: { authorization: `Bearer ${ccm.adminKey}`, 'content-type': contentType }, body });
      }),
      RUNS / 2,
    );
    await assertNothingStored();
  });

  test('POST /v1/api-credentials as the administrator and as the tenant, and with hostile keys', async () => {
    const body = hostileJsonBody({ name: 'string', role: 'string', tenantId: 'string' }, ['name', 'role', 'tenantId'], {});
    const caller = fc.oneof(
      fc.constant(`Bearer ${ccm.adminKey}`),
      fc.constant(`Bearer ${tenantKey}`),
      hostileHeaderValue,
    );
    await holds(
      fc.asyncProperty(caller, body, async (authorization, { contentType, body }) => {
        await refusedProperly({ method: 'POST', path: '/v1/api-credentials', headers: { authorization, 'content-type': contentType }, body });
      }),
      RUNS / 2,
    );
    await assertNothingStored();
  });

  test('regressions: inputs the properties once found answered with 500 or accepted', async () => {
    const json = (key: string) => ({ authorization: `Bearer ${key}`, 'content-type': 'application/json' });
    const certificates = `/v1/tenants/${tenantId}/certificates`;
    const deepObject = `{"certificatePem":${'{"a":'.repeat(3_000)}1${'}'.repeat(3_000)}}`;
    const deepArray = `${'['.repeat(3_000)}${']'.repeat(3_000)}`;
    const refusals: HostileRequest[] = [
      // class-transformer overflowed the stack (500).
      { method: 'POST', path: '/v1/authentications', headers: json(brokerKey), body: deepObject },
      { method: 'POST', path: certificates, headers: json(tenantKey), body: deepArray },
      { method: 'PUT', path: '/v1/platform-ca/certificate', headers: json(ccm.adminKey), body: deepArray },
      // A lone surrogate reached the UTF8String encoder (500).
      { method: 'POST', path: certificates, headers: json(tenantKey), body: '{"commonName":"a\\ud800"}' },
      // PostgreSQL refused a NUL in text (500).
      { method: 'POST', path: '/v1/api-credentials', headers: json(ccm.adminKey), body: '{"name":"a\\u0000","role":"broker"}' },
      { method: 'POST', path: `/v1/tenants/${tenantId}/enrollment-credentials`, headers: json(ccm.adminKey), body: '{"name":"a\\u0000"}' },
      { method: 'POST', path: '/v1/authentications', headers: json(brokerKey), body: '{"issuer":"CN=x\\u0000","serialNumber":"01"}' },
      // String.prototype.trim stripped the byte-order marks and took the tenant as "0" (201).
      { method: 'POST', path: '/v1/tenants', headers: json(ccm.adminKey), body: '{"name":"\\ufeff\\ufeff0"}' },
      { method: 'GET', path: `${certificates}?commonName=a%00`, headers: { authorization: `Bearer ${tenantKey}` } },
      // Taken as "no fields given", and a certificate issued (201).
      { method: 'POST', path: certificates, headers: json(tenantKey), body: 'null' },
      { method: 'POST', path: certificates, headers: json(tenantKey), body: '{"constructor":""}' },
      { method: 'POST', path: certificates, headers: json(tenantKey), body: '{"toString":[]}' },
      // null read as present (500).
      { method: 'POST', path: certificates, headers: json(tenantKey), body: '{"csr":null}' },
      // The router's own refusals came as application/json, not problem+json.
      { method: 'POST', path: '/v1/tenants/%FF/certificates', headers: json(tenantKey), body: '{}' },
      { method: 'GET', path: '/crl/%C0%AE.crl', headers: {} },
      { method: 'GET', path: `/crl/${'a'.repeat(200)}.crl`, headers: {} },
    ];
    for (const request of refusals) await refusedProperly(request);
    // OCSP: a NUL as authority id reached the database (internalError); a stray "%" after the router's decoding threw (500).
    await answeredAsOcsp({ method: 'GET', path: '/ocsp/%00//%00', headers: {} });
    await answeredAsOcsp({ method: 'GET', path: `/ocsp/${authorityId}/%01%25/%F1%80%A5%84`, headers: {} });
    await assertNothingStored();
  });

  test('after all of it, the certificate, tenant, authority, outbox and credential tables hold what they held before', async () => {
    await assertNothingStored();
    assert.equal(baseline['certificates'], 1);
    assert.equal(baseline['tenants'], 1);
  });
});

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/**
 * Runs `property` `runs` times; on a failure, reports the (shrunk)
 * counterexample cut to a readable length with the seed to replay it.
 */
async function holds<T>(property: fc.IAsyncPropertyWithHooks<T>, runs: number): Promise<void> {
  // A failure is shrunk, which can take many requests: bounded, so that a failing run ends rather than stalls.
  const details = await fc.check(property, { numRuns: runs, interruptAfterTimeLimit: 90_000, markInterruptAsFailure: true });
  if (!details.failed) return;
  const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  const example = JSON.stringify(details.counterexample, (_key, value: unknown) => (typeof value === 'string' && value.length > 300 ? `${value.slice(0, 300)}…(${value.length} chars)` : value));
  assert.fail(`${cause}\ncounterexample (seed ${details.seed}, path "${details.counterexamplePath}"): ${example.slice(0, 3_000)}`);
}

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

function send(base: string, agent: http.Agent, request: HostileRequest): Promise<Answer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const body = request.body === undefined ? undefined : Buffer.isBuffer(request.body) ? request.body : Buffer.from(request.body, 'utf8');
    const outgoing = http.request(
      { host: url.hostname, port: url.port, method: request.method, path: request.path, agent, headers: { ...request.headers, ...(body ? { 'content-length': String(body.length) } : {}) } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
        response.on('error', reject);
      },
    );
    outgoing.setTimeout(20_000, () => outgoing.destroy(new Error(`no answer in 20 s to ${request.method} ${request.path.slice(0, 200)}`)));
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

function assertProblem(answer: Answer, shown: string): void {
  assert.match(answer.headers['content-type'] ?? '', /^application\/problem\+json/, shown);
  const problem = JSON.parse(answer.body.toString('utf8')) as { type?: unknown; status?: unknown };
  assert.ok(typeof problem.type === 'string' && problem.type.startsWith(PROBLEM), shown);
  assert.equal(problem.status, answer.status, shown);
}

/** OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, ... } (RFC 6960 §4.2.1): the status, or null when that is not what came back. */
function ocspResponseStatus(der: Buffer): number | null {
  if (der[0] !== 0x30) return null;
  const lengthBytes = der[1]! & 0x80 ? der[1]! & 0x7f : 0;
  const at = 2 + lengthBytes;
  return der[at] === 0x0a && der[at + 1] === 0x01 ? der[at + 2]! : null;
}

async function rowCounts(installation: TestInstallation): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of STORED_TABLES) {
    const [row] = await installation.database.query<{ count: string }>(`SELECT COUNT(*) AS count FROM ${table}`);
    counts[table] = Number(row!.count);
  }
  return counts;
}

/** A CSR as a browser page would make it: WebCrypto P-256, @peculiar/x509. */
async function webCryptoCsr(commonName: string): Promise<x509.Pkcs10CertificateRequest> {
  const keys = await globalThis.crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  return x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${commonName}`, keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } }, globalThis.crypto);
}
