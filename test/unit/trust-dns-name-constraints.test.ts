/**
 * Delegated CAs' DNS name constraints: what a tenant may ask for, the
 * extension as the encoder writes it and as authentication reads it back,
 * and which device names it lets through (RFC 5280 §4.2.1.10, with
 * OpenSSL's CN fallback). Also the recorded-subject parser the cheap
 * authentication path maps identities with.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspectCertificate } from '../../src/codec/certificate-inspection.js';
import { formatDistinguishedName, parseFormattedDistinguishedName, type DistinguishedName } from '../../src/codec/distinguished-name.js';
import { DomainError } from '../../src/shared/errors.js';
import { checkedDnsDomains, dnsNameConstraintsOf, dnsNameOutsideConstraints } from '../../src/trust/dns-name-constraints.js';
import { issueTestCertificate, newTestKey } from '../support/test-keys.js';

const CONSTRAINTS = { permitted: ['devices.example.com'], excluded: ['bad.devices.example.com'] };
const subjectNamed = (commonName: string): DistinguishedName => [{ attribute: 'CN', value: commonName }];

describe('DNS name constraints of delegated CAs', () => {
  it('accepts host names and lower-cases them; refuses wildcards, leading dots, empty labels and too many names', () => {
    assert.deepEqual(checkedDnsDomains(['Devices.Example.COM', 'b-2.example'], 'permittedDnsDomains'), ['devices.example.com', 'b-2.example']);
    assert.deepEqual(checkedDnsDomains(undefined, 'permittedDnsDomains'), []);
    for (const bad of ['*.example.com', '.example.com', 'a..b', '', '-a.example', 'a_b.example']) {
      assert.throws(() => checkedDnsDomains([bad], 'excludedDnsDomains'), (error: unknown) => error instanceof DomainError && error.kind === 'invalid-request' && error.details['field'] === 'excludedDnsDomains', bad);
    }
    assert.throws(() => checkedDnsDomains(Array.from({ length: 33 }, (_, i) => `n${i}.example`), 'permittedDnsDomains'), DomainError);
  });

  it('lets names within a permitted subtree through and stops excluded ones, subdomains included', () => {
    assert.equal(dnsNameOutsideConstraints(subjectNamed('x'), ['devices.example.com'], CONSTRAINTS), null);
    assert.equal(dnsNameOutsideConstraints(subjectNamed('x'), ['A.Devices.Example.com'], CONSTRAINTS), null);
    assert.equal(dnsNameOutsideConstraints(subjectNamed('x'), ['a.devices.example.com', 'evil.example.net'], CONSTRAINTS), 'evil.example.net');
    assert.equal(dnsNameOutsideConstraints(subjectNamed('x'), ['bad.devices.example.com'], CONSTRAINTS), 'bad.devices.example.com');
    assert.equal(dnsNameOutsideConstraints(subjectNamed('x'), ['z.bad.devices.example.com'], CONSTRAINTS), 'z.bad.devices.example.com');
    // A suffix that is not a label boundary is another domain.
    assert.equal(dnsNameOutsideConstraints(subjectNamed('x'), ['notdevices.example.com'], CONSTRAINTS), 'notdevices.example.com');
    assert.equal(dnsNameOutsideConstraints(subjectNamed('x'), ['anything.example'], { permitted: [], excluded: ['bad.example'] }), null);
  });

  it('judges a host-name-like CN when there is no SAN dNSName, as OpenSSL does, and leaves a plain device name alone', () => {
    assert.equal(dnsNameOutsideConstraints(subjectNamed('sensor.elsewhere.example'), [], CONSTRAINTS), 'sensor.elsewhere.example');
    assert.equal(dnsNameOutsideConstraints(subjectNamed('sensor.devices.example.com'), [], CONSTRAINTS), null);
    assert.equal(dnsNameOutsideConstraints(subjectNamed('sensor-1'), [], CONSTRAINTS), null);
    assert.equal(dnsNameOutsideConstraints(subjectNamed('sensor 1.b'), [], CONSTRAINTS), null, 'not a host name');
    assert.equal(dnsNameOutsideConstraints(subjectNamed('sensor.elsewhere.example'), ['a.devices.example.com'], CONSTRAINTS), null, 'SAN names take precedence');
  });

  it('the delegated-CA profile writes critical name constraints, pathLen 0 and keyCertSign+cRLSign, which read back as given', async () => {
    const root = await newTestKey('ecdsa-p256');
    const rootDer = await issueTestCertificate([{ attribute: 'CN', value: 'root' }], root, { kind: 'ca', pathLenConstraint: 1 }, null, { lifetimeHours: 24 });
    const delegated = await newTestKey('ecdsa-p256');
    const issue = (permittedDnsDomains: string[], excludedDnsDomains: string[]) =>
      issueTestCertificate([{ attribute: 'CN', value: 'delegated' }], delegated, { kind: 'delegated-ca', permittedDnsDomains, excludedDnsDomains }, { der: rootDer, key: root }, { lifetimeHours: 1 });
    const constrained = await issue(['devices.example.com'], ['bad.devices.example.com']);
    const inspected = inspectCertificate(constrained);
    assert.equal(inspected.isCa, true);
    assert.equal(inspected.pathLenConstraint, 0);
    assert.deepEqual(inspected.keyUsage, ['keyCertSign', 'cRLSign']);
    assert.ok(inspected.criticalExtensionOids.includes('2.5.29.30'), 'nameConstraints is critical');
    assert.deepEqual(dnsNameConstraintsOf(constrained), CONSTRAINTS);
    const excludedOnly = await issue([], ['bad.example']);
    assert.deepEqual(dnsNameConstraintsOf(excludedOnly), { permitted: [], excluded: ['bad.example'] });
    const unconstrained = await issue([], []);
    assert.equal(dnsNameConstraintsOf(unconstrained), null, 'no empty NameConstraints is written');
    assert.ok(!inspectCertificate(unconstrained).criticalExtensionOids.includes('2.5.29.30'));
    await assert.rejects(issue(['*.example.com'], []), (error: unknown) => error instanceof DomainError && error.kind === 'invalid-request');
  });
});

describe('recorded subjects read back', () => {
  it('parses what formatDistinguishedName prints, escapes included, in encoding order', () => {
    const names: DistinguishedName[] = [
      [{ attribute: 'C', value: 'DE' }, { attribute: 'O', value: 'Acme, Inc.' }, { attribute: 'OU', value: 'water-meter' }, { attribute: 'CN', value: 'wm-1' }],
      [{ attribute: 'CN', value: ' leading and trailing ' }],
      [{ attribute: 'CN', value: '#hash+plus;semi<lt>gt"quote\\back=equals' }],
      [{ attribute: 'CN', value: 'nul\u0000inside' }, { attribute: '2.5.4.97', value: 'VATDE-123' }],
      [{ attribute: 'serialNumber', value: '00ab' }],
    ];
    for (const name of names) assert.deepEqual(parseFormattedDistinguishedName(formatDistinguishedName(name)), name, formatDistinguishedName(name));
    assert.deepEqual(parseFormattedDistinguishedName(''), []);
  });

  it('refuses what ccm never prints', () => {
    for (const text of ['CN=a+OU=b', 'no equals sign', 'CN=a,', 'CN=a\\']) {
      assert.throws(() => parseFormattedDistinguishedName(text), (error: unknown) => error instanceof DomainError && error.kind === 'invalid-request', text);
    }
  });
});
