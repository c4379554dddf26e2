/**
 * Request bodies end to end, as raw bytes over HTTP: a JSON body that is not
 * UTF-8 (invalid bytes, overlong forms, encoded surrogates, code points past
 * U+10FFFF, truncated sequences) is 400 malformed-json on every JSON route
 * rather than read with U+FFFD in its place; a form, multipart or text body
 * is 415 on every POST and PUT route; JSON with a charset parameter, a BOM or
 * non-ASCII text is read as sent; prototype keys and the body limit still
 * hold. The routes come from ccm's own OpenAPI document, so a new one is
 * covered without touching this file.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { TestInstallation, type CcmUnderTest } from '../support/ccm-under-test.js';
import { dumpAllRows } from '../support/databases.js';

const PROBLEM = 'urn:ccm:problem:';

/** Byte sequences RFC 3629 rules out, each inside an otherwise valid certificate request. */
const NOT_UTF8: readonly { readonly name: string; readonly bytes: string }[] = [
  { name: 'FF FE and an overlong "/" (the sweep\'s finding)', bytes: 'ff fe c0 af' },
  { name: 'a lone continuation byte', bytes: '80' },
  { name: 'a two-byte overlong NUL', bytes: 'c0 80' },
  { name: 'a three-byte overlong "/"', bytes: 'e0 80 af' },
  { name: 'a four-byte overlong "/"', bytes: 'f0 80 80 af' },
  { name: 'an encoded high surrogate (U+D800)', bytes: 'ed a0 80' },
  { name: 'an encoded low surrogate (U+DFFF)', bytes: 'ed bf bf' },
  { name: 'a surrogate pair encoded one half at a time (CESU-8)', bytes: 'ed a0 bd ed b2 a9' },
  { name: 'a code point past U+10FFFF', bytes: 'f4 90 80 80' },
  { name: 'a five-byte form', bytes: 'f8 88 80 80 80' },
  { name: 'a sequence cut short before the closing quote', bytes: 'e2 82' },
  { name: 'Latin-1 "é"', bytes: 'e9' },
];

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
}

describe('request bodies on SQLite + local custody', () => {
  let installation: TestInstallation;
  let ccm: CcmUnderTest;
  let certificates: string;
  /** Real ids for the path parameters of the routes enumerated below; any other parameter gets a fresh UUID. */
  let ids: Record<string, string>;
  let operations: { method: string; path: string; json: boolean }[];

  before(async () => {
    installation = await TestInstallation.create({ database: 'sqlite', custody: 'local' });
    ccm = await installation.start();
    const tenant = (await ccm.api().post('/v1/tenants').send({ name: `bodies-${Date.now()}` }).expect(201)).body;
    certificates = `/v1/tenants/${tenant.id}/certificates`;
    const certificate = (await ccm.api().post(certificates).send({ commonName: 'existing-device', ttlSeconds: 600 }).expect(201)).body;
    ids = { tenantId: tenant.id, authorityId: tenant.rootAuthority.id, certificateId: certificate.id };
    const document = (await ccm.api().get('/docs/openapi.json').expect(200)).body as { paths: Record<string, Record<string, { requestBody?: { content: Record<string, unknown> } }>> };
    operations = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([method]) => method === 'post' || method === 'put')
        .map(([method, operation]) => ({ method: method.toUpperCase(), path: path.replace(/\{(\w+)\}/g, (_whole, name: string) => ids[name] ?? randomUUID()), json: operation.requestBody?.content['application/json'] !== undefined })),
    );
  });

  after(async () => {
    await ccm?.close();
    await installation?.destroy();
  });

  function send(method: string, path: string, contentType: string, body: Buffer): Promise<Answer> {
    const url = new URL(ccm.url);
    return new Promise((resolve, reject) => {
      const outgoing = http.request(
        { host: url.hostname, port: url.port, method, path, headers: { authorization: `Bearer ${ccm.adminKey}`, 'content-type': contentType, 'content-length': String(body.length) } },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, contentType: response.headers['content-type'] ?? '', text: Buffer.concat(chunks).toString('utf8') }));
          response.on('error', reject);
        },
      );
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  }

  /** The JSON text `before`, then `hex` as raw bytes, then `after`. */
  function bytes(before: string, hex: string, after: string): Buffer {
    return Buffer.concat([Buffer.from(before, 'utf8'), Buffer.from(hex.replace(/ /g, ''), 'hex'), Buffer.from(after, 'utf8')]);
  }

  function assertProblem(answer: Answer, status: number, kind: string, shown: string): { detail?: string } {
    assert.equal(answer.status, status, `${shown}: ${answer.text}`);
    assert.match(answer.contentType, /^application\/problem\+json/, shown);
    const problem = JSON.parse(answer.text) as { type: string; status: number; detail?: string };
    assert.equal(problem.type, PROBLEM + kind, shown);
    assert.equal(problem.status, status, shown);
    return problem;
  }

  async function storedNow(): Promise<Awaited<ReturnType<typeof dumpAllRows>>> {
    await ccm.auditWritten();
    return dumpAllRows(installation.database);
  }

  test('a certificate request whose body is not UTF-8 is 400 malformed-json, and nothing is stored', async () => {
    const stored = await storedNow();
    for (const { name, bytes: hex } of NOT_UTF8) {
      const problem = assertProblem(await send('POST', certificates, 'application/json', bytes('{"commonName":"bad', hex, 'x","ttlSeconds":600}')), 400, 'malformed-json', name);
      assert.match(problem.detail ?? '', /not UTF-8/, name);
    }
    // Outside a string, in a member name, after a leading BOM, and whatever charset the header claims.
    assertProblem(await send('POST', certificates, 'application/json', bytes('{"ttlSeconds":600}', 'ff', '')), 400, 'malformed-json', 'after the value');
    assertProblem(await send('POST', certificates, 'application/json', bytes('{"common', 'c0 ae', 'Name":"x"}')), 400, 'malformed-json', 'in a member name');
    assertProblem(await send('POST', certificates, 'application/json', bytes('\uFEFF{"commonName":"bad', 'ff', '"}')), 400, 'malformed-json', 'after a BOM');
    assertProblem(await send('POST', certificates, 'application/json; charset=iso-8859-1', bytes('{"commonName":"caf', 'e9', '"}')), 400, 'malformed-json', 'declared Latin-1');
    assert.deepEqual(await storedNow(), stored);
    const listed = await ccm.api().get(certificates).expect(200);
    assert.deepEqual(listed.body.items.map((item: { commonName: string }) => item.commonName), ['existing-device']);
  });

  test('every JSON route answers a body that is not UTF-8 with 400 malformed-json, and stores nothing', async () => {
    const routes = operations.filter((operation) => operation.json);
    assert.ok(routes.some((operation) => operation.path === certificates), 'the certificate route is among the JSON routes');
    assert.ok(routes.length >= 15, `only ${routes.length} JSON routes documented`);
    const stored = await storedNow();
    for (const { method, path } of routes) {
      assertProblem(await send(method, path, 'application/json', bytes('{"name":"a', 'ed a0 80', '","commonName":"a"}')), 400, 'malformed-json', `${method} ${path}`);
    }
    assert.deepEqual(await storedNow(), stored);
  });

  test('a form, multipart or plain-text body is 415 unsupported-media-type on every POST and PUT route, and stores nothing', async () => {
    // Each would be a valid certificate request if its fields were taken as JSON members (a form one was: 201).
    const bodies = [
      { contentType: 'application/x-www-form-urlencoded', body: Buffer.from('commonName=form-device&ttlSeconds=600&name=form-tenant') },
      { contentType: 'multipart/form-data; boundary=ccm-boundary', body: Buffer.from('--ccm-boundary\r\nContent-Disposition: form-data; name="commonName"\r\n\r\nmultipart-device\r\n--ccm-boundary--\r\n') },
      { contentType: 'text/plain; charset=utf-8', body: Buffer.from('{"commonName":"text-device","ttlSeconds":600}') },
      { contentType: 'application/xml', body: Buffer.from('<commonName>xml-device</commonName>') },
    ];
    assert.ok(operations.some((operation) => operation.path === certificates && operation.method === 'POST'));
    const stored = await storedNow();
    for (const { method, path } of operations) {
      for (const { contentType, body } of bodies) assertProblem(await send(method, path, contentType, body), 415, 'unsupported-media-type', `${contentType} to ${method} ${path}`);
    }
    assert.deepEqual(await storedNow(), stored);
  });

  test('JSON with a charset parameter, in any case, with a leading BOM, or with non-ASCII text is read as sent (201)', async () => {
    const issued = async (contentType: string, body: Buffer, commonName: string) => {
      const answer = await send('POST', certificates, contentType, body);
      assert.equal(answer.status, 201, `${contentType}: ${answer.text}`);
      assert.equal((JSON.parse(answer.text) as { commonName: string }).commonName, commonName, contentType);
    };
    await issued('application/json; charset=utf-8', Buffer.from('{"commonName":"charset-device","ttlSeconds":600}'), 'charset-device');
    await issued('Application/JSON;charset=UTF-8', Buffer.from('{"commonName":"upper-case-device","ttlSeconds":600}'), 'upper-case-device');
    // RFC 8259 §8.1 lets a parser ignore a byte order mark; ccm always did.
    await issued('application/json', bytes('', 'ef bb bf', '{"commonName":"bom-device","ttlSeconds":600}'), 'bom-device');
    const unicode = 'Gerät-7 温度 \u{1F4A1} \u{10FFFD}';
    await issued('application/json', Buffer.from(JSON.stringify({ commonName: unicode, ttlSeconds: 600 }), 'utf8'), unicode);
    const listed = await ccm.api().get(certificates).query({ commonName: unicode }).expect(200);
    assert.equal(listed.body.items.length, 1);
  });

  test('a second BOM, an empty body and prototype keys are still 400 malformed-json, and store nothing', async () => {
    const stored = await storedNow();
    const refused = [
      { name: 'two BOMs', body: bytes('', 'ef bb bf ef bb bf', '{"commonName":"two-boms"}') },
      { name: 'an empty body', body: Buffer.alloc(0) },
      { name: '__proto__', body: Buffer.from('{"commonName":"proto","__proto__":{"admin":true}}') },
      { name: '__proto__ escaped', body: Buffer.from('{"commonName":"proto","\\u005f_proto__":{"admin":true}}') },
      { name: 'nested __proto__', body: Buffer.from('{"commonName":"proto","csr":{"__proto__":{"admin":true}}}') },
      { name: 'constructor.prototype', body: Buffer.from('{"commonName":"proto","constructor":{"prototype":{"admin":true}}}') },
    ];
    for (const { name, body } of refused) assertProblem(await send('POST', certificates, 'application/json', body), 400, 'malformed-json', name);
    assert.deepEqual(await storedNow(), stored);
  });

  test('a JSON body over CCM_BODY_LIMIT_BYTES is 413 payload-too-large, not UTF-8 or not', async () => {
    const over = ccm.configuration.http.bodyLimitBytes + 1;
    const stored = await storedNow();
    assertProblem(await send('POST', certificates, 'application/json', Buffer.from(JSON.stringify({ commonName: 'x', csr: 'A'.repeat(over) }))), 413, 'payload-too-large', 'UTF-8');
    assertProblem(await send('POST', certificates, 'application/json', bytes('{"csr":"', 'ff'.repeat(over), '"}')), 413, 'payload-too-large', 'not UTF-8');
    assert.deepEqual(await storedNow(), stored);
  });
});
