/**
 * CRL shards (CCM_CRL_SHARD_DAYS): certificates that expire on different
 * days name different CRLs in their distribution points; each shard lists only
 * its own certificates and carries its own Issuing Distribution Point, while
 * the tenant's complete CRL (for broker agents) lists them all without one.
 * openssl decides what is in scope.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { TestInstallation, type CcmUnderTest } from '../support/ccm-under-test.js';
import { openssl, Scratch } from '../support/openssl.js';

describe('CRL shards (SQLite + local custody, one-day shards)', () => {
  let installation: TestInstallation;
  let ccm: CcmUnderTest;
  let scratch: Scratch;

  before(async () => {
    installation = await TestInstallation.create({ database: 'sqlite', custody: 'local' }, { CCM_CRL_SHARD_DAYS: '1' });
    ccm = await installation.start();
    scratch = await Scratch.create();
  });

  after(async () => {
    await ccm?.close();
    await installation?.destroy();
    await scratch?.cleanup();
  });

  async function derCrl(path: string): Promise<string> {
    const res = await ccm.api().get(path).buffer(true).parse(((res: NodeJS.ReadableStream, done: (e: Error | null, b: Buffer) => void) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(null, Buffer.concat(chunks)));
    }) as never).expect(200);
    const der = scratch.path(`crl-${Math.random()}.der`);
    await writeFile(der, res.body as Buffer);
    return (await openssl(['crl', '-inform', 'DER', '-in', der])).stdout;
  }

  test('each certificate names its shard; each shard lists its own, with its IDP; the complete CRL lists all', async () => {
    const tenant = (await ccm.api().post('/v1/tenants').send({ name: 'sharded' }).expect(201)).body;
    const authorityId = tenant.rootAuthority.id as string;
    const chainPath = await scratch.write('chain.pem', (await ccm.api().get(`/v1/tenants/${tenant.id}/ca-chain`).expect(200)).text);
    const issue = async (commonName: string, ttlSeconds: number) => {
      const body = (await ccm.api().post(`/v1/tenants/${tenant.id}/certificates`).send({ commonName, ttlSeconds }).expect(201)).body;
      const path = await scratch.write(`${commonName}.pem`, body.certificatePem);
      const text = (await openssl(['x509', '-in', path, '-noout', '-text'])).stdout;
      const cdp = /X509v3 CRL Distribution Points:\s+Full Name:\s+URI:(\S+)/.exec(text)![1]!;
      return { ...body, path, cdp: new URL(cdp).pathname };
    };
    const soon = await issue('expires-soon', 3600);
    const later = await issue('expires-later', 3 * 86400);
    const soonToo = await issue('expires-soon-too', 3600);
    assert.match(soon.cdp, new RegExp(`^/crl/${authorityId}-\\d+\\.crl$`));
    assert.notEqual(soon.cdp, later.cdp, 'different expiry days, different shards');
    assert.equal(soon.cdp, soonToo.cdp);

    for (const c of [soon, later]) await ccm.api().post(`/v1/tenants/${tenant.id}/certificates/${c.id}/revoke`).send({ reason: 'keyCompromise' }).expect(200);

    const soonShard = await scratch.write('soon-shard.crl.pem', await derCrl(soon.cdp));
    const laterShard = await scratch.write('later-shard.crl.pem', await derCrl(later.cdp));
    const complete = await scratch.write('complete.crl.pem', (await ccm.api().get(`/v1/tenants/${tenant.id}/crl`).query({ format: 'pem' }).expect(200)).text);
    const textOf = async (path: string) => (await openssl(['crl', '-in', path, '-noout', '-text'])).stdout;
    const soonText = await textOf(soonShard);
    assert.match(soonText, new RegExp(soon.serialNumber.toUpperCase()));
    assert.doesNotMatch(soonText, new RegExp(later.serialNumber.toUpperCase()), 'a shard lists only its own certificates');
    assert.match(soonText, new RegExp(`Issuing Distribution Point: critical\\s+Full Name:\\s+URI:\\S+${soon.cdp.replace(/[.]/g, '\\.')}`));
    const completeText = await textOf(complete);
    for (const c of [soon, later]) assert.match(completeText, new RegExp(c.serialNumber.toUpperCase()));
    assert.doesNotMatch(completeText, /Issuing Distribution Point/);

    const verify = async (certificate: string, crl: string) => {
      const result = await openssl(['verify', '-crl_check', '-CAfile', chainPath, '-CRLfile', crl, certificate]);
      return result.stdout + result.stderr;
    };
    assert.match(await verify(soon.path, soonShard), /certificate revoked/);
    assert.match(await verify(later.path, laterShard), /certificate revoked/);
    assert.doesNotMatch(await verify(soon.path, laterShard), /: OK/, 'another shard is out of scope for it');
    assert.match(await verify(soonToo.path, soonShard), /: OK/);
    for (const c of [soon, later]) assert.match(await verify(c.path, complete), /certificate revoked/);
    assert.match(await verify(soonToo.path, complete), /: OK/);

    const all = await scratch.write('all-shards.crl.pem', (await derCrl(soon.cdp)) + (await derCrl(later.cdp)));
    assert.match(await verify(later.path, all), /certificate revoked/, 'with every shard loaded, openssl picks the one in scope');

    await ccm.api().get(`/crl/${authorityId}-999.crl`).expect(404);
    await ccm.api().get(`/crl/${authorityId}.crl`).expect(200);
  });
});
