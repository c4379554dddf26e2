/** The life-cycle rules as a table: every request from every state. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CertificateState, ClientCertificate } from '../../src/certificates/client-certificate.js';
import { IllegalTransition, transitionOf, type LifeCycleRequest } from '../../src/lifecycle/certificate-transition.js';

const at = new Date('2026-11-23T12:00:00Z');

function certificate(state: CertificateState, used: boolean): ClientCertificate {
  return { state, firstUsedAt: used ? new Date('2026-11-01T00:00:00Z') : null } as ClientCertificate;
}

const REQUESTS: Record<string, LifeCycleRequest> = {
  activate: { kind: 'activate' },
  suspend: { kind: 'suspend' },
  reactivate: { kind: 'reactivate' },
  revoke: { kind: 'revoke', reason: 'keyCompromise' },
};

// [state, used before, request] → [new state, event, reason] or 'illegal'
const TABLE: [CertificateState, boolean, string, [string, string, string | null] | 'illegal'][] = [
  ['inactive', false, 'activate', ['active', 'certificate.activated', null]],
  ['inactive', false, 'suspend', ['suspended', 'certificate.suspended', 'certificateHold']],
  ['inactive', false, 'reactivate', 'illegal'],
  ['inactive', false, 'revoke', ['revoked', 'certificate.revoked', 'keyCompromise']],
  ['active', true, 'activate', 'illegal'],
  ['active', true, 'suspend', ['suspended', 'certificate.suspended', 'certificateHold']],
  ['active', true, 'reactivate', 'illegal'],
  ['active', true, 'revoke', ['revoked', 'certificate.revoked', 'keyCompromise']],
  ['suspended', false, 'activate', 'illegal'],
  ['suspended', false, 'suspend', 'illegal'],
  ['suspended', false, 'reactivate', ['inactive', 'certificate.reactivated', null]],
  ['suspended', true, 'reactivate', ['active', 'certificate.reactivated', null]],
  ['suspended', true, 'revoke', ['revoked', 'certificate.revoked', 'keyCompromise']],
  ['revoked', true, 'activate', 'illegal'],
  ['revoked', true, 'suspend', 'illegal'],
  ['revoked', true, 'reactivate', 'illegal'],
  ['revoked', true, 'revoke', 'illegal'],
  ['pending', false, 'suspend', 'illegal'],
  ['pending', false, 'revoke', 'illegal'],
  ['failed', false, 'revoke', 'illegal'],
];

for (const [state, used, name, expected] of TABLE) {
  test(`${name} from ${state}${used ? ' (used)' : ''} → ${expected === 'illegal' ? 'illegal' : expected[0]}`, () => {
    const run = () => transitionOf(certificate(state, used), REQUESTS[name]!, at);
    if (expected === 'illegal') {
      assert.throws(run, (error: unknown) => error instanceof IllegalTransition && error.kind === 'illegal-transition' && error.details['state'] === state);
      return;
    }
    const transition = run();
    assert.deepEqual([transition.to, transition.eventType, transition.reason], expected);
    assert.equal(transition.from, state);
    assert.equal(transition.at, at);
    assert.equal(transition.changesRevocationList, name !== 'activate', 'every transition but first use changes the CRL');
  });
}
