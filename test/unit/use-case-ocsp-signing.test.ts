/**
 * OcspSigningIdentities against in-memory ports and custody, with the real
 * CA role: by default a CA signs its own responses; delegated, it issues one
 * responder certificate (recorded pending, then active), reuses it, and
 * replaces it when a third of its validity is left; a revoked CA issues no
 * responder; a custody failure leaves the responder's record failed.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import type { Authority } from '../../src/authorities/authority.js';
import { inspectCertificate, verifyCertificateSignature } from '../../src/codec/certificate-inspection.js';
import { OcspSigningIdentities, type OcspSigningIdentity } from '../../src/revocation/ocsp-signing.js';
import { MemoryInstallation, rejectsWith } from '../support/memory-installation.js';

const ID_KP_OCSP_SIGNING = '1.3.6.1.5.5.7.3.9';
const DAY_MS = 86_400_000;

async function responding(ocspResponder: 'ca' | 'delegated') {
  const installation = await MemoryInstallation.withTenant({ CCM_OCSP_RESPONDER: ocspResponder });
  const identities = new OcspSigningIdentities(installation.config, installation.ports.authorities, installation.issuers, installation.ca, installation.clock);
  return { installation, identities };
}

function responders(installation: MemoryInstallation): Authority[] {
  return [...installation.ports.tables.authorities.values()].filter((authority) => authority.kind === 'ocsp-responder');
}

/** Whether what the identity signs verifies under the key its responder ID names. */
async function signsUnderItsKey(identity: OcspSigningIdentity): Promise<boolean> {
  const data = new TextEncoder().encode('tbsResponseData');
  const signature = await identity.signer.sign(data);
  return verify('sha256', data, { key: createPublicKey({ key: Buffer.from(identity.subjectPublicKeyInfo), format: 'der', type: 'spki' }), dsaEncoding: 'der' }, signature);
}

describe('OcspSigningIdentities', () => {
  before(() => Logger.overrideLogger(false));

  it('signs with the CA\'s own key by default, issuing no responder', async () => {
    const { installation, identities } = await responding('ca');
    const identity = await identities.of(installation.root);

    assert.deepEqual(identity.subjectPublicKeyInfo, installation.publicKeyOf(installation.root));
    assert.deepEqual(identity.certificates, []);
    assert.ok(await signsUnderItsKey(identity));
    assert.deepEqual(responders(installation), []);
  });

  it('issues a delegated responder pending then active, certified by the CA for OCSP signing', async () => {
    const { installation, identities } = await responding('delegated');
    const identity = await identities.of(installation.root);

    const [responder] = responders(installation);
    assert.ok(responder);
    assert.equal(responder.status, 'active');
    assert.equal(responder.issuerAuthorityId, installation.root.id);
    assert.equal(responder.tenantId, installation.tenant.id);
    assert.deepEqual(installation.ports.tables.statesOf(responder.id), ['pending', 'active']);
    assert.equal(identity.certificates.length, 1);
    const certificate = identity.certificates[0]!;
    assert.ok(verifyCertificateSignature(certificate, installation.publicKeyOf(installation.root)), 'signed by the CA it answers for');
    const inspected = inspectCertificate(certificate);
    assert.deepEqual(inspected.extendedKeyUsage, [ID_KP_OCSP_SIGNING]);
    assert.equal(inspected.isCa, false);
    assert.deepEqual(identity.subjectPublicKeyInfo, inspected.subjectPublicKeyInfo);
    assert.deepEqual(identity.subjectPublicKeyInfo, (await installation.custody.getKey(responder.custodyKeyName)).publicKeyDer, 'its key is in custody');
    assert.ok(await signsUnderItsKey(identity));
  });

  it('reuses the responder while more than a third of its validity is left, and then replaces it', async () => {
    const { installation, identities } = await responding('delegated');
    const first = await identities.of(installation.root);
    const callsAfterFirst = installation.custody.calls.filter((call) => call.startsWith('createKey:')).length;

    installation.clock.advance(19 * DAY_MS);
    const again = await identities.of(installation.root);
    assert.deepEqual(again.certificates, first.certificates);
    assert.equal(responders(installation).length, 1);
    assert.equal(installation.custody.calls.filter((call) => call.startsWith('createKey:')).length, callsAfterFirst, 'no new key');

    installation.clock.advance(2 * DAY_MS);
    const replaced = await identities.of(installation.root);
    assert.equal(responders(installation).length, 2);
    assert.notDeepEqual(replaced.subjectPublicKeyInfo, first.subjectPublicKeyInfo);
  });

  it('issues no responder for a revoked CA, which answers with its own key', async () => {
    const { installation, identities } = await responding('delegated');
    const revoked: Authority = { ...installation.root, status: 'revoked' };
    const callsBefore = installation.custody.calls.length;

    const identity = await identities.of(revoked);

    assert.deepEqual(identity.subjectPublicKeyInfo, installation.publicKeyOf(installation.root));
    assert.deepEqual(identity.certificates, []);
    assert.deepEqual(responders(installation), []);
    assert.equal(installation.custody.calls.length, callsBefore, 'no key made');
  });

  it('marks the responder failed when custody fails, and issues a new one once custody is back', async () => {
    const { installation, identities } = await responding('delegated');
    installation.custody.failing = 'unavailable';

    await rejectsWith(identities.of(installation.root), 'custody-unavailable');

    const [failed] = responders(installation);
    assert.ok(failed, 'the record stays');
    assert.equal(failed.status, 'failed');
    assert.deepEqual(installation.ports.tables.statesOf(failed.id), ['pending', 'failed']);
    assert.equal(await installation.ports.authorities.findLatestResponder(installation.root.id), null);

    installation.custody.failing = null;
    const identity = await identities.of(installation.root);
    assert.equal(identity.certificates.length, 1);
    assert.deepEqual(responders(installation).map((r) => r.status), ['failed', 'active']);
  });
});
