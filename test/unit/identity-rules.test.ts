/**
 * Identity rules as pure functions: what may be set (validateIdentityRules),
 * what a subject must meet before ccm signs it (checkSubjectEncoding,
 * checkSubjectPolicy) and how a certificate's subject names a device
 * (mapDeviceIdentity).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_IDENTITY_RULES,
  attributesNamedBy,
  checkSubjectEncoding,
  checkSubjectPolicy,
  mapDeviceIdentity,
  validateIdentityRules,
  type IdentityRules,
  type IdentityRulesInput,
} from '../../src/authorities/identity-rules.js';
import type { DecodedNameEntry, DistinguishedName } from '../../src/codec/distinguished-name.js';
import { AuthenticationRefused, DomainError } from '../../src/shared/errors.js';

const TENANT_ID = '019a0000-0000-7000-8000-00000000abcd';

function refusedAs(kind: string, details: Record<string, unknown>): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof DomainError, `expected a DomainError, got ${String(error)}`);
    assert.equal(error.kind, kind, error.message);
    for (const [key, value] of Object.entries(details)) assert.equal(error.details[key], value, `${key} in ${JSON.stringify(error.details)}`);
    return true;
  };
}

const WITHTHEGRID: IdentityRules = {
  identityAttribute: 'CN',
  deviceTypeAttribute: 'OU',
  subjectPolicy: [
    { attribute: 'O', equals: 'supplier' },
    { attribute: 'OU', pattern: '[a-z]+(-[a-z0-9]+)*' },
    { attribute: 'L', equals: '{tenantId}' },
  ],
};

describe('validateIdentityRules', () => {
  it('gives the defaults for an empty body', () => {
    assert.deepEqual(validateIdentityRules({}, { signedByCcm: true }), DEFAULT_IDENTITY_RULES);
  });

  it('keeps valid rules and drops null equals/pattern', () => {
    const rules = validateIdentityRules(
      {
        identityAttribute: 'CN',
        deviceTypeAttribute: 'OU',
        subjectPolicy: [
          { attribute: 'O', equals: 'supplier', pattern: null },
          { attribute: 'OU', pattern: '[a-z]+(-[a-z0-9]+)*' },
          { attribute: 'L', equals: '{tenantId}' },
        ],
      },
      { signedByCcm: true },
    );
    assert.deepEqual(rules, WITHTHEGRID);
  });

  it('lets an external CA name its devices by an attribute a CSR could not carry, but not have a subject policy', () => {
    assert.equal(validateIdentityRules({ identityAttribute: 'UID' }, { signedByCcm: false }).identityAttribute, 'UID');
    assert.throws(() => validateIdentityRules({ subjectPolicy: [{ attribute: 'O' }] }, { signedByCcm: false }), refusedAs('invalid-request', { field: 'subjectPolicy' }));
  });

  const refusals: [string, IdentityRulesInput, string][] = [
    ['an unknown identity attribute', { identityAttribute: 'commonName' }, 'identityAttribute'],
    ['a null identity attribute', { identityAttribute: null }, 'identityAttribute'],
    ['an identity attribute a CSR cannot carry, on a CA ccm signs with', { identityAttribute: 'UID' }, 'identityAttribute'],
    ['an unknown device type attribute', { deviceTypeAttribute: 'type' }, 'deviceTypeAttribute'],
    ['the same attribute for identity and type', { identityAttribute: 'OU', deviceTypeAttribute: 'OU' }, 'deviceTypeAttribute'],
    ['the default identity attribute as type', { deviceTypeAttribute: 'CN' }, 'deviceTypeAttribute'],
    ['8 requirements', { subjectPolicy: Array.from({ length: 8 }, () => ({ attribute: 'O' })) }, 'subjectPolicy'],
    ['an unknown policy attribute', { subjectPolicy: [{ attribute: 'CN' }, { attribute: 'X' }] }, 'subjectPolicy[1].attribute'],
    ['a policy attribute a CSR cannot carry', { subjectPolicy: [{ attribute: 'emailAddress' }] }, 'subjectPolicy[0].attribute'],
    ['two requirements on one attribute', { subjectPolicy: [{ attribute: 'O', equals: 'a' }, { attribute: 'O', pattern: 'b' }] }, 'subjectPolicy[1].attribute'],
    ['equals and pattern together', { subjectPolicy: [{ attribute: 'O', equals: 'a', pattern: 'a' }] }, 'subjectPolicy[0]'],
    ['an empty equals', { subjectPolicy: [{ attribute: 'O', equals: '' }] }, 'subjectPolicy[0].equals'],
    ['an equals of 65 characters', { subjectPolicy: [{ attribute: 'O', equals: 'é'.repeat(65) }] }, 'subjectPolicy[0].equals'],
    ['an equals with a control character', { subjectPolicy: [{ attribute: 'O', equals: 'a\u0085b' }] }, 'subjectPolicy[0].equals'],
    ['an equals with a bidi override', { subjectPolicy: [{ attribute: 'O', equals: 'a\u202Eb' }] }, 'subjectPolicy[0].equals'],
    ['an equals with a zero-width space', { subjectPolicy: [{ attribute: 'O', equals: 'a\u200Bb' }] }, 'subjectPolicy[0].equals'],
    ['an equals with a line separator', { subjectPolicy: [{ attribute: 'O', equals: 'a\u2028b' }] }, 'subjectPolicy[0].equals'],
    ['a pattern with a literal bidi isolate', { subjectPolicy: [{ attribute: 'OU', pattern: 'a\u2066|b' }] }, 'subjectPolicy[0].pattern'],
    ['an unknown placeholder', { subjectPolicy: [{ attribute: 'OU', equals: '{tenantID}' }] }, 'subjectPolicy[0].equals'],
    ['a pattern that does not compile', { subjectPolicy: [{ attribute: 'OU', pattern: '[a-z' }] }, 'subjectPolicy[0].pattern'],
    ['a pattern that only compiles without unicode mode', { subjectPolicy: [{ attribute: 'OU', pattern: '\\-\\q' }] }, 'subjectPolicy[0].pattern'],
    ['a pattern that would escape the anchoring group', { subjectPolicy: [{ attribute: 'OU', pattern: 'a)|(b' }] }, 'subjectPolicy[0].pattern'],
    ['a pattern of 257 characters', { subjectPolicy: [{ attribute: 'OU', pattern: 'a'.repeat(257) }] }, 'subjectPolicy[0].pattern'],
    ['an empty pattern', { subjectPolicy: [{ attribute: 'OU', pattern: '' }] }, 'subjectPolicy[0].pattern'],
  ];
  for (const [what, input, field] of refusals) {
    it(`refuses ${what}, naming ${field}`, () => {
      assert.throws(() => validateIdentityRules(input, { signedByCcm: true }), refusedAs('invalid-request', { field }));
    });
  }

  it('accepts a pattern that names a format character by its escape', () => {
    assert.equal(validateIdentityRules({ subjectPolicy: [{ attribute: 'OU', pattern: '[^\\u{202E}]+' }] }, { signedByCcm: true }).subjectPolicy[0]!.pattern, '[^\\u{202E}]+');
  });

  it('accepts one requirement on each attribute a CSR may carry, a 64-character equals and a 256-character pattern', () => {
    const attributes = ['CN', 'O', 'OU', 'C', 'L', 'ST', 'serialNumber'] as const;
    assert.equal(validateIdentityRules({ subjectPolicy: attributes.map((attribute) => ({ attribute })) }, { signedByCcm: true }).subjectPolicy.length, 7);
    const rules = validateIdentityRules({ subjectPolicy: [{ attribute: 'O', equals: 'é'.repeat(64) }, { attribute: 'OU', pattern: 'a'.repeat(256) }] }, { signedByCcm: true });
    assert.equal(rules.subjectPolicy.length, 2);
  });
});

describe('checkSubjectPolicy', () => {
  const compliant: DistinguishedName = [
    { attribute: 'O', value: 'supplier' },
    { attribute: 'L', value: TENANT_ID },
    { attribute: 'OU', value: 'smart-meter' },
    { attribute: 'CN', value: 'meter-7' },
  ];

  it('passes a compliant subject, with {tenantId} replaced', () => {
    assert.doesNotThrow(() => checkSubjectPolicy(compliant, WITHTHEGRID, TENANT_ID));
  });

  it('passes any subject with one CN under the default rules', () => {
    assert.doesNotThrow(() => checkSubjectPolicy([{ attribute: 'O', value: 'x' }, { attribute: 'CN', value: 'd' }], null, TENANT_ID));
  });

  const violations: [string, DistinguishedName, string][] = [
    ['O other than "supplier"', compliant.map((e) => (e.attribute === 'O' ? { ...e, value: 'Supplier' } : e)), 'O'],
    ['L other than the tenant id', compliant.map((e) => (e.attribute === 'L' ? { ...e, value: '{tenantId}' } : e)), 'L'],
    ['OU not matching the whole pattern', compliant.map((e) => (e.attribute === 'OU' ? { ...e, value: 'smart-meter!' } : e)), 'OU'],
    ['OU matching only a prefix', compliant.map((e) => (e.attribute === 'OU' ? { ...e, value: 'Smart-meter' } : e)), 'OU'],
    ['no O', compliant.filter((e) => e.attribute !== 'O'), 'O'],
    ['two O', [{ attribute: 'O', value: 'supplier' }, ...compliant], 'O'],
    ['no CN, the identity attribute', compliant.filter((e) => e.attribute !== 'CN'), 'CN'],
    ['two CN', [...compliant, { attribute: 'CN', value: 'other' }], 'CN'],
  ];
  for (const [what, subject, attribute] of violations) {
    it(`refuses ${what}, naming ${attribute}`, () => {
      assert.throws(() => checkSubjectPolicy(subject, WITHTHEGRID, TENANT_ID), refusedAs('policy-violation', { attribute }));
    });
  }

  it('never evaluates a pattern on a value longer than 128 characters', () => {
    const rules: IdentityRules = { ...DEFAULT_IDENTITY_RULES, subjectPolicy: [{ attribute: 'L', pattern: '.*' }] };
    assert.doesNotThrow(() => checkSubjectPolicy([{ attribute: 'L', value: 'l'.repeat(128) }, { attribute: 'CN', value: 'd' }], rules, TENANT_ID));
    assert.throws(() => checkSubjectPolicy([{ attribute: 'L', value: 'l'.repeat(129) }, { attribute: 'CN', value: 'd' }], rules, TENANT_ID), refusedAs('policy-violation', { attribute: 'L' }));
  });

  it('stops a catastrophically backtracking pattern within its time budget and names its attribute', () => {
    const rules: IdentityRules = {
      ...DEFAULT_IDENTITY_RULES,
      subjectPolicy: [
        { attribute: 'O', pattern: 'a+' },
        { attribute: 'OU', pattern: '(a+)+b' },
      ],
    };
    const started = process.hrtime.bigint();
    assert.throws(
      () => checkSubjectPolicy([{ attribute: 'O', value: 'aaa' }, { attribute: 'OU', value: 'a'.repeat(40) }, { attribute: 'CN', value: 'd' }], rules, TENANT_ID),
      refusedAs('policy-violation', { attribute: 'OU' }),
    );
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    assert.ok(elapsedMs < 2000, `took ${elapsedMs} ms`);
    // The shared evaluation context is usable again afterwards.
    assert.doesNotThrow(() => checkSubjectPolicy([{ attribute: 'O', value: 'aaa' }, { attribute: 'OU', value: 'aab' }, { attribute: 'CN', value: 'd' }], rules, TENANT_ID));
  });
});

describe('attributesNamedBy', () => {
  it('lists identity, type and policy attributes once each', () => {
    assert.deepEqual(attributesNamedBy(null), ['CN']);
    assert.deepEqual(attributesNamedBy(WITHTHEGRID), ['CN', 'OU', 'O', 'L']);
  });
});

describe('checkSubjectEncoding', () => {
  const entry = (attribute: DecodedNameEntry['attribute'], value: string, stringType: DecodedNameEntry['stringType']): DecodedNameEntry => ({ attribute, value, stringType });

  it('accepts UTF8String and ASCII PrintableString values', () => {
    assert.doesNotThrow(() => checkSubjectEncoding([entry('C', 'DE', 'printable'), entry('O', 'Grüne Zähler', 'utf8'), entry('CN', 'm-1', 'utf8')]));
  });

  for (const stringType of ['bmp', 'teletex', 'universal', 'ia5'] as const) {
    it(`refuses a ${stringType} string, naming the attribute`, () => {
      assert.throws(() => checkSubjectEncoding([entry('CN', 'ok', 'utf8'), entry('OU', 'meters', stringType)]), refusedAs('policy-violation', { attribute: 'OU', stringType }));
    });
  }

  it('accepts IA5String where ccm writes IA5String (emailAddress, DC), and only there', () => {
    assert.doesNotThrow(() => checkSubjectEncoding([entry('DC', 'example', 'ia5'), entry('emailAddress', 'ca@example.com', 'ia5'), entry('CN', 'ca', 'utf8')]));
    assert.throws(() => checkSubjectEncoding([entry('CN', 'ca', 'ia5')]), refusedAs('policy-violation', { attribute: 'CN', stringType: 'ia5' }));
  });

  it('refuses format characters, line separators and noncharacters as it refuses control characters', () => {
    for (const value of ['a\u202Eb', 'a\u2066b', 'a\u200Bb', 'a\u200Db', 'a\uFEFFb', 'a\u00ADb', 'a\u2028b', 'a\u2029b', 'a\uFFFEb']) {
      assert.throws(() => checkSubjectEncoding([entry('CN', value, 'utf8')]), refusedAs('policy-violation', { attribute: 'CN' }), JSON.stringify(value));
    }
  });

  it('refuses control characters and non-ASCII PrintableString', () => {
    assert.throws(() => checkSubjectEncoding([entry('CN', 'a\u0000b', 'utf8')]), refusedAs('policy-violation', { attribute: 'CN' }));
    assert.throws(() => checkSubjectEncoding([entry('O', 'a\u009bb', 'utf8')]), refusedAs('policy-violation', { attribute: 'O' }));
    assert.throws(() => checkSubjectEncoding([entry('serialNumber', 'caf\u00e9', 'printable')]), refusedAs('policy-violation', { attribute: 'serialNumber' }));
  });
});

describe('mapDeviceIdentity', () => {
  it('takes the identity from CN by default, with no type', () => {
    assert.deepEqual(mapDeviceIdentity([{ attribute: 'O', value: 'Acme' }, { attribute: 'CN', value: 'meter-7' }], null), { identity: 'meter-7', deviceType: null });
    assert.deepEqual(mapDeviceIdentity([{ attribute: 'CN', value: 'meter-7' }], DEFAULT_IDENTITY_RULES), { identity: 'meter-7', deviceType: null });
  });

  it('takes the device type from OU when the rules say so', () => {
    const subject: DistinguishedName = [{ attribute: 'O', value: 'supplier' }, { attribute: 'OU', value: 'smart-meter' }, { attribute: 'CN', value: 'meter-7' }];
    assert.deepEqual(mapDeviceIdentity(subject, WITHTHEGRID), { identity: 'meter-7', deviceType: 'smart-meter' });
  });

  it('takes the identity from another attribute, ignoring CN', () => {
    const rules: IdentityRules = { ...DEFAULT_IDENTITY_RULES, identityAttribute: 'serialNumber' };
    assert.deepEqual(mapDeviceIdentity([{ attribute: 'serialNumber', value: 'SN-1' }, { attribute: 'CN', value: 'a' }, { attribute: 'CN', value: 'b' }], rules), { identity: 'SN-1', deviceType: null });
  });

  const unmapped: [string, DistinguishedName, IdentityRules | null, string][] = [
    ['no CN', [{ attribute: 'O', value: 'Acme' }], null, 'CN'],
    ['two CN', [{ attribute: 'CN', value: 'a' }, { attribute: 'CN', value: 'b' }], null, 'CN'],
    ['an empty CN', [{ attribute: 'CN', value: '' }], null, 'CN'],
    ['a CN with a control character', [{ attribute: 'CN', value: 'meter\u0000-7' }], null, 'CN'],
    ['a CN with a bidi override', [{ attribute: 'CN', value: 'meter\u202E7-' }], null, 'CN'],
    ['a CN with a zero-width joiner', [{ attribute: 'CN', value: 'meter\u200D-7' }], null, 'CN'],
    ['an OU naming the type with a paragraph separator', [{ attribute: 'OU', value: 'meter\u2029' }, { attribute: 'CN', value: 'meter-7' }], WITHTHEGRID, 'OU'],
    ['no OU when OU gives the type', [{ attribute: 'CN', value: 'meter-7' }], WITHTHEGRID, 'OU'],
    ['two OU when OU gives the type', [{ attribute: 'OU', value: 'a' }, { attribute: 'OU', value: 'b' }, { attribute: 'CN', value: 'meter-7' }], WITHTHEGRID, 'OU'],
    ['an attribute only as an unknown OID', [{ attribute: '2.5.4.97', value: 'x' }], { ...DEFAULT_IDENTITY_RULES, identityAttribute: 'UID' }, 'UID'],
  ];
  for (const [what, subject, rules, attribute] of unmapped) {
    it(`refuses ${what} as identity-unmapped, naming ${attribute}`, () => {
      assert.throws(
        () => mapDeviceIdentity(subject, rules),
        (error: unknown) => error instanceof AuthenticationRefused && error.refusal === 'identity-unmapped' && error.details['attribute'] === attribute,
      );
    });
  }
});
