/**
 * One text rule for names on every route that signs or records one
 * (src/codec/subject-text.ts): a keygen commonName, a CSR's CN (REST and
 * EST), a delegated intermediate's CSR subject, an uploaded CA's subject, a
 * pre-registered device identity and a subject policy's `equals`. A
 * property drives every route with the same kind of generated text and
 * expects the same answer: accepted, as sent, exactly when isSubjectText
 * accepts it; otherwise 400 with the problem type the route has always given
 * a control character, and nothing stored. Then the examples the
 * hostile-input sweep found, by name. PostgreSQL, local custody, no rate
 * limits.
 *
 * The text is at most 32 code points (the tightest bound is 64, for CN) and
 * '{' never precedes letters and '}' (a placeholder in `equals`), so no
 * other rule of a route decides. Lone surrogates go only to the JSON routes:
 * a UTF8String cannot carry one (the codec refuses invalid UTF-8 as a
 * malformed name, a unit test's business), so the DER routes get text
 * without them.
 */
import 'reflect-metadata'; // @peculiar/x509 needs it loaded first
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AttributeTypeAndValue, AttributeValue, Name, RelativeDistinguishedName } from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import fc from 'fast-check';
import request from 'supertest';
import { isSubjectText } from '../../src/codec/subject-text.js';
import { TestInstallation, type CcmUnderTest } from '../support/ccm-under-test.js';

const PROBLEM = 'urn:ccm:problem:';
const STORED_TABLES = ['certificates', 'authorities', 'devices'] as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;

// ---------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------

/** Every code point of the categories the rule is about, so that the rare ones (U+180E, U+FFF9, the tags) come up too. */
const CONTROL_FORMAT_AND_SEPARATOR_CODE_POINTS: readonly number[] = (() => {
  const category = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
  const found: number[] = [];
  for (let codePoint = 0; codePoint <= 0x10ffff; codePoint++) {
    if ((codePoint < 0xd800 || codePoint > 0xdfff) && category.test(String.fromCodePoint(codePoint))) found.push(codePoint);
  }
  return found;
})();

/** From the issue and its neighbours: C0, DEL, C1 (NEL, CSI), soft hyphen, bidi marks, overrides and isolates, zero-width ones, BOM, separators, noncharacters, a tag. */
const HOSTILE = ['\u0000', '\u0001', '\u001B', '\u007F', '\u0080', '\u0085', '\u009B', '\u009F', '\u00AD', '\u061C', '\u200B', '\u200D', '\u200E', '\u202E', '\u2066', '\u2069', '\uFEFF', '\u2028', '\u2029', '\uFFFE', '\uFFFF', '\uFDD0', '\u{E0001}'];
/** Allowed, and easy to get wrong: NBSP, other spaces, combining marks, emoji, RFC 4514 specials, the neighbours of refused characters. */
const TRICKY = ['\u00A0', '\u3000', 'é', 'e\u0301', 'ß', 'Ω', '设备', 'جهاز', '\u{1F600}', '\u{1F4A9}', '\u2764\uFE0F', '\uFFFD', '\uE000', '\u00AC', '\u00AE', '\uFDCF', ',', '+', '=', '"', '\\', '#', ';', '<', ' '];
const LONE_SURROGATES = ['\uD800', '\uDBFF', '\uDC00', '\uDFFF'];
const MAXIMUM_CHARACTERS = 32;

function nameText(options: { loneSurrogates: boolean }): fc.Arbitrary<string> {
  const piece = fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCXYZ0123456789-_.'), minLength: 1, maxLength: 8 }) },
    { weight: 2, arbitrary: fc.constantFrom(...TRICKY) },
    { weight: 1, arbitrary: fc.constantFrom(...HOSTILE) },
    { weight: 1, arbitrary: fc.constantFrom(...CONTROL_FORMAT_AND_SEPARATOR_CODE_POINTS).map((codePoint) => String.fromCodePoint(codePoint)) },
    { weight: 1, arbitrary: fc.oneof(fc.integer({ min: 0x20, max: 0xd7ff }), fc.integer({ min: 0xe000, max: 0x10ffff })).map((codePoint) => String.fromCodePoint(codePoint)) },
    ...(options.loneSurrogates ? [{ weight: 1, arbitrary: fc.constantFrom(...LONE_SURROGATES) }] : []),
  );
  return fc
    .array(piece, { minLength: 1, maxLength: 6 })
    .map((pieces) => [...pieces.join('')].slice(0, MAXIMUM_CHARACTERS).join(''))
    .filter((text) => !/\{[A-Za-z]+\}/u.test(text));
}

// ---------------------------------------------------------------------------
// Certificates and requests made the way a tenant's tools make them
// ---------------------------------------------------------------------------

type StringChoice = 'utf8String' | 'bmpString';

/**
 * A Name of one CN, encoded by asn1-x509 (not by ccm, which would refuse what is under test); after an O of plain
 * letters when `organization` is given, which makes a CA's name one of its own (no two CAs of ccm share a name, and two
 * generated CNs may compare equal, " " and "  " for one).
 */
function nameOf(commonName: string, stringType: StringChoice = 'utf8String', organization?: string): x509.Name {
  const attribute = (type: string, value: string, choice: StringChoice) => new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value: new AttributeValue({ [choice]: value }) })]);
  const rdns = [...(organization === undefined ? [] : [attribute('2.5.4.10', organization, 'utf8String')]), attribute('2.5.4.3', commonName, stringType)];
  return new x509.Name(AsnConvert.serialize(new Name(rdns)));
}

function newKeys() {
  return globalThis.crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
}

/** A PKCS#10 request with a fresh key; DER. */
async function csrDer(commonName: string, stringType: StringChoice = 'utf8String', organization?: string): Promise<Buffer> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: nameOf(commonName, stringType, organization), keys: await newKeys(), signingAlgorithm: SIGNING }, globalThis.crypto);
  return Buffer.from(csr.rawData);
}

function pem(der: Uint8Array, label: string): string {
  return `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END ${label}-----\n`;
}

/** A self-signed CA certificate (cA, keyCertSign, valid now) with a fresh key; PEM. */
async function selfSignedCaPem(commonName: string, organization?: string): Promise<string> {
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: nameOf(commonName, 'utf8String', organization),
      keys: await newKeys(),
      signingAlgorithm: SIGNING,
      notBefore: new Date(Date.now() - 3_600_000),
      notAfter: new Date(Date.now() + 86_400_000),
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
    },
    globalThis.crypto,
  );
  return certificate.toString('pem');
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

interface Answer {
  readonly status: number;
  readonly type: string | null;
  readonly body: Record<string, unknown>;
}

/** A route that takes a name: how to send text to it, what acceptance looks like, and the problem type of a refusal. */
interface NameRoute {
  readonly title: string;
  /** Whether the text travels in JSON (a lone surrogate can) or in DER (it cannot). */
  readonly carriesLoneSurrogates: boolean;
  readonly acceptedStatus: number;
  readonly refusedAs: 'invalid-request' | 'policy-violation';
  readonly runs: number;
  send(text: string): Promise<Answer>;
  /** The name as recorded, when the answer shows it: accepted text must be stored as sent, not normalised. */
  recorded?(answer: Answer): unknown;
  /** What a refusal must leave as it was, besides the row counts. */
  unchanged?(): Promise<unknown>;
}

describe('subject text on every route that signs or records a name', () => {
  let installation: TestInstallation;
  let ccm: CcmUnderTest;
  let tenantId: string;
  let tenantKey: string;
  let enrollmentBasic: string;
  let externalAuthorityId: string;
  let rulesTenantId: string;
  let rulesAuthorityId: string;
  let rulesTenantKey: string;
  let deviceCounter = 0;
  let caCounter = 0;
  const routes: NameRoute[] = [];

  async function answerOf(pending: request.Test): Promise<Answer> {
    const response = await pending;
    const type = typeof response.body?.type === 'string' && /^application\/problem\+json/.test(String(response.headers['content-type'])) ? (response.body.type as string) : null;
    return { status: response.status, type, body: (response.body ?? {}) as Record<string, unknown> };
  }

  const json = (method: 'post' | 'put', path: string, key: string, body: object) => answerOf(request(ccm.url)[method](path).set('authorization', `Bearer ${key}`).send(body));

  async function rowCounts(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const table of STORED_TABLES) {
      const [row] = await installation.database.query<{ count: string }>(`SELECT COUNT(*) AS count FROM ${table}`);
      counts[table] = Number(row!.count);
    }
    return counts;
  }

  before(async () => {
    installation = await TestInstallation.create({ database: 'postgres', custody: 'local' }, { CCM_RATE_LIMIT_ISSUANCE_PER_SECOND: '0', CCM_RATE_LIMIT_AUTHENTICATION_PER_SECOND: '0' });
    ccm = await installation.start();
    const tenant = (await ccm.api().post('/v1/tenants').send({ name: `names-${Date.now()}` }).expect(201)).body;
    tenantId = tenant.id;
    tenantKey = await ccm.createApiKey('tenant', tenantId, 'names tenant');
    const credential = (await ccm.api().post(`/v1/tenants/${tenantId}/enrollment-credentials`).send({ name: 'names line' }).expect(201)).body;
    enrollmentBasic = `Basic ${Buffer.from(`${credential.id}:${credential.secret}`).toString('base64')}`;
    const external = await ccm
      .api(tenantKey)
      .post(`/v1/tenants/${tenantId}/authorities/external`)
      .send({ name: 'devices under test', certificatePem: await selfSignedCaPem('names device CA'), registration: 'preregistered' })
      .expect(201);
    externalAuthorityId = external.body.id;
    // Identity rules change what a tenant root signs: a tenant of their own, so the other routes keep the defaults.
    const rulesTenant = (await ccm.api().post('/v1/tenants').send({ name: `names-rules-${Date.now()}` }).expect(201)).body;
    rulesTenantId = rulesTenant.id;
    rulesAuthorityId = rulesTenant.rootAuthority.id;
    rulesTenantKey = await ccm.createApiKey('tenant', rulesTenantId, 'names rules tenant');

    const certificates = `/v1/tenants/${tenantId}/certificates`;
    const identityRules = `/v1/tenants/${rulesTenantId}/authorities/${rulesAuthorityId}/identity-rules`;
    routes.push(
      {
        title: 'POST …/certificates with commonName (key generated by ccm)',
        carriesLoneSurrogates: true,
        acceptedStatus: 201,
        refusedAs: 'invalid-request',
        runs: 50,
        send: (text) => json('post', certificates, tenantKey, { commonName: text }),
        recorded: (answer) => answer.body['commonName'],
      },
      {
        title: 'POST …/certificates with a CSR',
        carriesLoneSurrogates: false,
        acceptedStatus: 201,
        refusedAs: 'policy-violation',
        runs: 50,
        send: async (text) => json('post', certificates, tenantKey, { csr: pem(await csrDer(text), 'CERTIFICATE REQUEST') }),
        recorded: (answer) => answer.body['commonName'],
      },
      {
        title: 'POST /.well-known/est/{tenant}/simpleenroll',
        carriesLoneSurrogates: false,
        acceptedStatus: 200,
        refusedAs: 'policy-violation',
        // Each request costs a scrypt hash of the enrollment secret.
        runs: 20,
        send: async (text) =>
          answerOf(
            request(ccm.url)
              .post(`/.well-known/est/${tenantId}/simpleenroll`)
              .set('authorization', enrollmentBasic)
              .set('content-type', 'application/pkcs10')
              .send((await csrDer(text)).toString('base64')),
          ),
      },
      {
        title: 'POST …/authorities/intermediate (the CSR subject becomes the CA\'s)',
        carriesLoneSurrogates: false,
        acceptedStatus: 201,
        refusedAs: 'invalid-request',
        runs: 40,
        send: async (text) => json('post', `/v1/tenants/${tenantId}/authorities/intermediate`, tenantKey, { name: 'names intermediate', csrPem: pem(await csrDer(text, 'utf8String', `names run ${++caCounter}`), 'CERTIFICATE REQUEST') }),
      },
      {
        title: 'POST …/authorities/external (an uploaded CA\'s subject)',
        carriesLoneSurrogates: false,
        acceptedStatus: 201,
        refusedAs: 'invalid-request',
        runs: 40,
        send: async (text) => json('post', `/v1/tenants/${tenantId}/authorities/external`, tenantKey, { name: 'names external', certificatePem: await selfSignedCaPem(text, `names run ${++caCounter}`), registration: 'self' }),
      },
      {
        title: 'POST …/authorities/{id}/devices (a pre-registered identity)',
        carriesLoneSurrogates: true,
        acceptedStatus: 201,
        refusedAs: 'invalid-request',
        runs: 50,
        // Identities are unique under a CA; a prefix of plain letters makes each one new without changing the verdict.
        send: (text) => json('post', `/v1/tenants/${tenantId}/authorities/${externalAuthorityId}/devices`, tenantKey, { identity: `d${++deviceCounter}-${text}` }),
        recorded: (answer) => (answer.body['identity'] as string).replace(/^d\d+-/, ''),
      },
      {
        title: 'PUT …/identity-rules (a subject policy equals)',
        carriesLoneSurrogates: true,
        acceptedStatus: 200,
        refusedAs: 'invalid-request',
        runs: 50,
        send: (text) => json('put', identityRules, rulesTenantKey, { subjectPolicy: [{ attribute: 'O', equals: text }] }),
        recorded: (answer) => (answer.body['subjectPolicy'] as { equals: string }[])[0]!.equals,
        unchanged: async () => (await ccm.api(rulesTenantKey).get(identityRules).expect(200)).body,
      },
    );
  });

  after(async () => {
    await ccm?.close();
    await installation?.destroy();
  });

  /** Sends `text` and checks the verdict is the rule's; returns whether it was accepted. */
  async function judged(route: NameRoute, text: string): Promise<boolean> {
    const expected = isSubjectText(text);
    const countsBefore = await rowCounts();
    const stateBefore = await route.unchanged?.();
    const answer = await route.send(text);
    const shown = `${route.title}: ${JSON.stringify(text)} → ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`;
    if (expected) {
      assert.equal(answer.status, route.acceptedStatus, shown);
      if (route.recorded) assert.equal(route.recorded(answer), text, `recorded as sent: ${shown}`);
    } else {
      assert.equal(answer.status, 400, shown);
      assert.equal(answer.type, PROBLEM + route.refusedAs, shown);
      assert.deepEqual(await rowCounts(), countsBefore, `nothing stored: ${shown}`);
      if (route.unchanged) assert.deepEqual(await route.unchanged(), stateBefore, `nothing changed: ${shown}`);
    }
    return expected;
  }

  test('every route accepts a name exactly when the subject text rule does, and refuses the rest with 400, storing nothing', async () => {
    for (const route of routes) {
      const verdicts = { accepted: 0, refused: 0 };
      const details = await fc.check(
        fc.asyncProperty(nameText({ loneSurrogates: route.carriesLoneSurrogates }), async (text) => {
          verdicts[(await judged(route, text)) ? 'accepted' : 'refused']++;
        }),
        { numRuns: route.runs, interruptAfterTimeLimit: 60_000, markInterruptAsFailure: true },
      );
      if (details.failed) {
        const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
        assert.fail(`${cause}\ncounterexample (seed ${details.seed}, path "${details.counterexamplePath}"): ${JSON.stringify(details.counterexample)}`);
      }
      // A run that drew only one kind of text would have shown nothing about the other.
      assert.ok(verdicts.accepted > 0 && verdicts.refused > 0, `${route.title}: ${JSON.stringify(verdicts)}`);
    }
  });

  // The examples of the issue, each answered 201 (200 for the rules) before.

  const FORMAT_CHARACTERS = ['\u202E', '\u2066', '\u200B', '\u200D', '\uFEFF'];

  test('400 invalid-request for the keygen commonName "dev\\u009b31mice" (CSI, a C1 control)', async () => {
    const answer = await json('post', `/v1/tenants/${tenantId}/certificates`, tenantKey, { commonName: 'dev\u009b31mice' });
    assert.equal(answer.status, 400);
    assert.equal(answer.type, `${PROBLEM}invalid-request`);
    assert.match(String(answer.body['detail']), /commonName contains U\+009B, a control character/);
  });

  test('a format or bidi character (U+202E, U+2066, U+200B, U+200D, U+FEFF) gets each route\'s control-character refusal', async () => {
    for (const route of routes) {
      const control = await route.send('dev\u0001ice');
      assert.equal(control.type, PROBLEM + route.refusedAs, `${route.title}: a control character`);
      for (const character of FORMAT_CHARACTERS) assert.equal(await judged(route, `dev${character}ice`), false);
    }
  });

  test('400 policy-violation for a CSR whose CN starts with U+FEFF (it was dropped when decoded, and the shorter name signed)', async () => {
    const answer = await json('post', `/v1/tenants/${tenantId}/certificates`, tenantKey, { csr: pem(await csrDer('\uFEFFmeter-1'), 'CERTIFICATE REQUEST') });
    assert.equal(answer.status, 400);
    assert.equal(answer.type, `${PROBLEM}policy-violation`);
  });

  test('400 invalid-request for an uploaded external CA whose CN holds a NUL ("ca\\u0000evil")', async () => {
    const before = await rowCounts();
    const answer = await json('post', `/v1/tenants/${tenantId}/authorities/external`, tenantKey, { name: 'nul', certificatePem: await selfSignedCaPem('ca\u0000evil'), registration: 'self' });
    assert.equal(answer.status, 400);
    assert.equal(answer.type, `${PROBLEM}invalid-request`);
    assert.equal(answer.body['field'], 'certificatePem');
    assert.equal(answer.body['attribute'], 'CN');
    assert.deepEqual(await rowCounts(), before);
  });

  test('400 policy-violation for a delegated intermediate CSR with a BMPString CN, as for a device CSR', async () => {
    const before = await rowCounts();
    const intermediate = await json('post', `/v1/tenants/${tenantId}/authorities/intermediate`, tenantKey, { name: 'bmp', csrPem: pem(await csrDer('acme line CA', 'bmpString'), 'CERTIFICATE REQUEST') });
    const device = await json('post', `/v1/tenants/${tenantId}/certificates`, tenantKey, { csr: pem(await csrDer('meter-1', 'bmpString'), 'CERTIFICATE REQUEST') });
    for (const answer of [intermediate, device]) {
      assert.equal(answer.status, 400);
      assert.equal(answer.type, `${PROBLEM}policy-violation`);
      assert.equal(answer.body['stringType'], 'bmp');
    }
    assert.deepEqual(await rowCounts(), before);
  });
});
