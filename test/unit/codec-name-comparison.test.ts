/**
 * RFC 5280 §7.1 name comparison and RFC 4514 reading: names that verifiers
 * take as one compare equal, names that differ do not, and ccm's printed
 * form and OpenSSL's RFC2253 form read back to the name they print.
 * The one-name-one-CA rules over stored records (shapes ccm keeps, and the
 * collision listing the migration and `ccm authorities check-names` use).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { authorityNameCollisions, isNameOfCcmShape, type NamedAuthority } from '../../src/authorities/authority-names.js';
import { planTenantRoot, tenantRootSubject } from '../../src/authorities/tenant-root.js';
import { formatDistinguishedName, type DistinguishedName } from '../../src/codec/distinguished-name.js';
import { comparableName, comparableSubject, comparableValue, parseRfc4514Name, sameName } from '../../src/codec/name-comparison.js';
import { DomainError } from '../../src/shared/errors.js';
import { distinguishedName } from '../support/name-arbitraries.js';

const cn = (value: string, ...rest: DistinguishedName): DistinguishedName => [...rest, { attribute: 'CN', value }];

describe('comparableValue (RFC 4518 string preparation)', () => {
  it('folds case, including the full folds ß/SS and Σ/σ/ς', () => {
    assert.equal(comparableValue('Acme Root CA'), comparableValue('ACME ROOT ca'));
    assert.equal(comparableValue('Straße'), comparableValue('STRASSE'));
    assert.equal(comparableValue('ΣΟΦΙΑ'), comparableValue('σοφια'));
  });

  it('drops insignificant space and makes every space one', () => {
    assert.equal(comparableValue('  Acme   Root\tCA '), 'acme root ca');
    assert.equal(comparableValue('Acme\u00A0Root\u3000CA'), 'acme root ca');
  });

  it('normalises compatibility forms (NFKC) and removes characters mapped to nothing', () => {
    assert.equal(comparableValue('ﬁle'), comparableValue('file'));
    assert.equal(comparableValue('e\u0301'), comparableValue('\u00E9'));
    assert.equal(comparableValue('Ac\u200Bme\u00ADRoot\uFEFF'), comparableValue('acmeroot'));
    assert.equal(comparableValue('Ａｃｍｅ'), comparableValue('acme'));
  });

  it('keeps what does differ: letters, digits and punctuation', () => {
    assert.notEqual(comparableValue('Acme Root CA'), comparableValue('Acme Root CA 2'));
    assert.notEqual(comparableValue('acme-root'), comparableValue('acme root'));
    assert.notEqual(comparableValue('tenant.a'), comparableValue('tenant a'));
  });
});

describe('comparableName', () => {
  it('compares attribute by attribute, in order, by type', () => {
    assert.ok(sameName(cn('Acme Root', { attribute: 'O', value: 'Acme' }), cn('ACME  root', { attribute: 'O', value: 'acme' })));
    assert.ok(!sameName(cn('Acme', { attribute: 'O', value: 'Root' }), [{ attribute: 'O', value: 'Acme' }, { attribute: 'CN', value: 'Root' }]));
    assert.ok(!sameName(cn('Acme'), [{ attribute: 'O', value: 'Acme' }]));
    assert.ok(!sameName(cn('Acme'), cn('Acme', { attribute: 'C', value: 'DE' })));
  });

  it('a type ccm names and its dotted OID are one type', () => {
    assert.ok(sameName(cn('Acme'), [{ attribute: '2.5.4.3', value: 'acme' }]));
  });

  it('is the comparable form of the printed subject (comparableSubject)', () => {
    fc.assert(
      fc.property(distinguishedName(), (name) => comparableSubject(formatDistinguishedName(name)) === comparableName(name)),
      { numRuns: 300 },
    );
  });
});

describe('parseRfc4514Name', () => {
  it('reads back every name ccm prints', () => {
    fc.assert(
      fc.property(distinguishedName(), (name) => comparableName(parseRfc4514Name(formatDistinguishedName(name))) === comparableName(name)),
      { numRuns: 300 },
    );
  });

  it('reads OpenSSL\'s RFC2253 form: \\XX escapes of UTF-8 octets, escaped specials, most specific first', () => {
    const name = parseRfc4514Name('CN=Caf\\C3\\A9 \\2C Bar\\+1,OU=0190a1b2-0000-7000-8000-000000000001,O=Acme\\, Inc.,C=DE');
    assert.deepEqual(name, [
      { attribute: 'C', value: 'DE' },
      { attribute: 'O', value: 'Acme, Inc.' },
      { attribute: 'OU', value: '0190a1b2-0000-7000-8000-000000000001' },
      { attribute: 'CN', value: 'Café , Bar+1' },
    ]);
  });

  it('takes type names in any case, long names, dotted OIDs and multi-valued RDNs', () => {
    assert.deepEqual(parseRfc4514Name('commonName=a+emailAddress=x@y,oid.2.5.4.10=b,2.5.4.97=c'), [
      { attribute: '2.5.4.97', value: 'c' },
      { attribute: 'O', value: 'b' },
      { attribute: 'CN', value: 'a' },
      { attribute: 'emailAddress', value: 'x@y' },
    ]);
    assert.deepEqual(parseRfc4514Name('cn=a'), [{ attribute: 'CN', value: 'a' }]);
  });

  it('refuses what it cannot read as text, with invalid-request', () => {
    for (const text of ['CN', 'XX=a', 'CN=#0403616263', 'CN=a\\', 'CN=\\FF\\FE', 'CN=a,', '=a']) {
      assert.throws(() => parseRfc4514Name(text), (error: unknown) => error instanceof DomainError && error.kind === 'invalid-request', text);
    }
  });
});

describe('names ccm keeps for its own CAs', () => {
  const uuid = '0190a1b2-0000-7000-8000-000000000001';
  it('tenant roots and OCSP responders, in any case or spacing', () => {
    assert.ok(isNameOfCcmShape(cn('acme root CA', { attribute: 'OU', value: uuid })));
    assert.ok(isNameOfCcmShape(cn('ACME   ROOT ca', { attribute: 'OU', value: uuid.toUpperCase() })));
    assert.ok(isNameOfCcmShape(cn(`OCSP responder ${uuid}`, { attribute: 'OU', value: uuid })));
    assert.ok(isNameOfCcmShape(cn(`OCSP Responder ${uuid}`)));
  });

  it('every generation of a tenant root, as tenantRootSubject names them, within RFC 5280\'s 64 characters of CN', () => {
    const longName = 'n'.repeat(128);
    for (const generation of [1, 2, 9, 10, 1234]) {
      for (const name of ['acme', longName]) {
        const subject = tenantRootSubject({ id: uuid, name }, generation);
        assert.ok(isNameOfCcmShape(subject), `${name} G${generation}`);
        const commonName = subject.find((attribute) => attribute.attribute === 'CN')!.value;
        assert.ok(commonName.length <= 64, commonName);
        assert.match(commonName, generation === 1 ? / root CA$/ : new RegExp(` root CA G${generation}$`));
      }
    }
    assert.notEqual(comparableName(tenantRootSubject({ id: uuid, name: 'acme' }, 2)), comparableName(tenantRootSubject({ id: uuid, name: 'acme' }, 1)));
    assert.throws(() => planTenantRoot({ id: uuid, name: 'acme' }, 0, undefined as never, { keyAlgorithm: 'ecdsa-p256', validityDays: 1 }, new Date()), /positive integer/);
  });

  it('not names of other shapes', () => {
    assert.ok(!isNameOfCcmShape(cn('acme root CA G', { attribute: 'OU', value: uuid })));
    assert.ok(!isNameOfCcmShape(cn('acme root CA G2x', { attribute: 'OU', value: uuid })));
    assert.ok(!isNameOfCcmShape(cn('acme root CA')));
    assert.ok(!isNameOfCcmShape(cn('acme root CA', { attribute: 'OU', value: 'engineering' })));
    assert.ok(!isNameOfCcmShape(cn('acme intermediate', { attribute: 'OU', value: uuid })));
    assert.ok(!isNameOfCcmShape(cn('OCSP responder for acme')));
  });
});

describe('authorityNameCollisions', () => {
  const ca = (id: string, subject: string, overrides: Partial<NamedAuthority> = {}): NamedAuthority => ({ id, tenantId: `tenant-${id}`, kind: 'intermediate', status: 'active', subject, ...overrides });

  it('two CAs in force under one comparable name block; the listing names both', () => {
    const [collision, ...rest] = authorityNameCollisions([ca('a', 'CN=Acme Root,OU=x'), ca('b', 'CN=acme  root,OU=X'), ca('c', 'CN=Other')]);
    assert.equal(rest.length, 0);
    assert.equal(collision!.blocking, true);
    assert.deepEqual(collision!.authorities.map((authority) => authority.id), ['a', 'b']);
  });

  it('a revoked CA and one in force are listed without blocking; a failed record holds no name', () => {
    const [collision] = authorityNameCollisions([ca('a', 'CN=Acme', { status: 'revoked' }), ca('b', 'CN=acme')]);
    assert.equal(collision!.blocking, false);
    assert.deepEqual(authorityNameCollisions([ca('a', 'CN=Acme', { status: 'failed' }), ca('b', 'CN=acme')]), []);
  });

  it('the generations of one CA\'s OCSP responder are no collision; a CA named like them is', () => {
    const responder = (id: string) => ca(id, 'CN=OCSP responder 0190a1b2-0000-7000-8000-000000000001', { kind: 'ocsp-responder' });
    assert.deepEqual(authorityNameCollisions([responder('r1'), responder('r2')]), []);
    const [collision] = authorityNameCollisions([responder('r1'), ca('x', 'CN=ocsp responder 0190a1b2-0000-7000-8000-000000000001')]);
    assert.equal(collision!.blocking, false, 'responders are outside the unique index');
  });
});
