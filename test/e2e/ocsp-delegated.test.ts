/**
 * CCM_OCSP_RESPONDER=delegated, with Vault custody: responses are signed by
 * a responder certificate that the tenant CA issued (id-kp-OCSPSigning,
 * ocsp-nocheck), sent along in the response, and openssl accepts the
 * delegation. The responder is issued once and replaced before it expires.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { FixedClock } from '../../src/shared/clock.js';
import { TestInstallation, type CcmUnderTest } from '../support/ccm-under-test.js';
import { openssl, pemBlocks, Scratch } from '../support/openssl.js';

describe('delegated OCSP responder (SQLite + Vault custody)', () => {
  let installation: TestInstallation;
  let ccm: CcmUnderTest;
  let scratch: Scratch;
  const clock = new FixedClock(new Date());

  before(async () => {
    installation = await TestInstallation.create({ database: 'sqlite', custody: 'vault' }, { CCM_OCSP_RESPONDER: 'delegated' });
    ccm = await installation.start({ clock });
    scratch = await Scratch.create();
  });

  after(async () => {
    await ccm?.close();
    await installation?.destroy();
    await scratch?.cleanup();
  });

  const responders = async (): Promise<{ id: string; issuer_authority_id: string; custody_key_name: string; subject: string }[]> =>
    installation.database.query("SELECT id, issuer_authority_id, custody_key_name, subject FROM authorities WHERE kind = 'ocsp-responder' ORDER BY id");

  test('a responder certificate issued by the CA signs the answers, and openssl accepts the delegation', async () => {
    const tenant = (await ccm.api().post('/v1/tenants').send({ name: 'delegated' }).expect(201)).body;
    const chain = (await ccm.api().get(`/v1/tenants/${tenant.id}/ca-chain`).expect(200)).text;
    const device = (await ccm.api().post(`/v1/tenants/${tenant.id}/certificates`).send({ commonName: 'd-1', ttlSeconds: 3600 }).expect(201)).body;
    const leaf = await scratch.write('leaf.pem', device.certificatePem);
    const root = await scratch.write('root.pem', pemBlocks(chain)[0]!);
    const chainPath = await scratch.write('chain.pem', chain);
    const ask = async () => {
      const result = await openssl(['ocsp', '-issuer', root, '-CAfile', chainPath, '-cert', leaf, '-url', `${ccm.url}/ocsp/${tenant.rootAuthority.id}`, '-resp_text']);
      assert.match(result.stdout + result.stderr, /Response verify OK/, result.stdout + result.stderr);
      return result.stdout;
    };
    const first = await ask();
    assert.match(first, /leaf\.pem: good/);
    assert.match(first, /OCSP Signing/, 'the responder certificate is in the response');
    assert.match(first, /OCSP No Check/);
    // Each responder a name of its own under its CA's id: no two certificates ccm signs for a CA share a subject.
    assert.match(first, new RegExp(`Subject: OU ?= ?${tenant.rootAuthority.id}, CN ?= ?OCSP responder [0-9a-f-]{36}`));

    await ccm.api().post(`/v1/tenants/${tenant.id}/certificates/${device.id}/suspend`).send({}).expect(200);
    assert.match(await ask(), /leaf\.pem: revoked[\s\S]*Reason: certificateHold/);
    await ask();
    const issued = await responders();
    assert.equal(issued.length, 1, 'one responder, reused');
    assert.equal(issued[0]!.issuer_authority_id, tenant.rootAuthority.id);
    assert.ok(installation.vault!.keyNames().includes(`ccm-${issued[0]!.custody_key_name}`), 'its key lives in Vault, non-exportable like the CA keys');

    // Twenty-one days on, a third of its 30 days is left: the next request brings a new responder.
    const requestPath = scratch.path('request.der');
    await openssl(['ocsp', '-issuer', root, '-cert', leaf, '-reqout', requestPath]);
    clock.advance(21 * 86_400_000);
    await ccm.api().post(`/ocsp/${tenant.rootAuthority.id}`).set('content-type', 'application/ocsp-request').send(await readFile(requestPath)).expect(200);
    const replaced = await responders();
    assert.equal(replaced.length, 2, 'replaced before it expires');
    assert.equal(new Set(replaced.map((responder) => responder.subject)).size, 2, 'the new responder has a name of its own');
  });
});
