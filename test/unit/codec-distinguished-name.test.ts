/**
 * Distinguished names: string types and bounds on the way out, every
 * DirectoryString alternative on the way in, RFC 4514 text.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AttributeTypeAndValue, AttributeValue, Name, RelativeDistinguishedName } from '@peculiar/asn1-x509';
import { DomainError } from '../../src/shared/errors.js';
import {
  attributeOidOf,
  commonNameOf,
  decodeName,
  decodeNameEntries,
  encodeDistinguishedName,
  formatDistinguishedName,
  validateDistinguishedName,
  validateNameText,
  type DistinguishedName,
  type NameAttribute,
} from '../../src/codec/distinguished-name.js';
import { distinguishedName } from '../support/name-arbitraries.js';

function tlv(tag: number, content: Uint8Array | string): Buffer {
  const bytes = typeof content === 'string' ? Buffer.from(content, 'hex') : Buffer.from(content);
  assert.ok(bytes.length < 128);
  return Buffer.concat([Buffer.from([tag, bytes.length]), bytes]);
}

/** A one-attribute Name: SEQUENCE { SET { SEQUENCE { OID, value } } }. */
function nameWith(oidHex: string, valueTag: number, value: Uint8Array): Uint8Array {
  return tlv(0x30, tlv(0x31, tlv(0x30, Buffer.concat([tlv(0x06, oidHex), tlv(valueTag, value)]))));
}

const CN_OID = '550403';

const STRING_TYPES: Record<NameAttribute, 'utf8' | 'printable' | 'ia5'> = {
  CN: 'utf8',
  SN: 'utf8',
  serialNumber: 'printable',
  C: 'printable',
  L: 'utf8',
  ST: 'utf8',
  O: 'utf8',
  OU: 'utf8',
  title: 'utf8',
  givenName: 'utf8',
  pseudonym: 'utf8',
  emailAddress: 'ia5',
  DC: 'ia5',
  UID: 'utf8',
};

/** The name as the asn1-x509 object model serializes it: the encoding ccm wrote before it wrote DER directly, kept as the reference. */
function encodedByAsn1Schema(dn: DistinguishedName): Uint8Array {
  const rdns = dn.map(({ attribute, value }) => {
    const stringType = STRING_TYPES[attribute as NameAttribute];
    const attributeValue =
      stringType === 'utf8' ? new AttributeValue({ utf8String: value }) : stringType === 'printable' ? new AttributeValue({ printableString: value }) : new AttributeValue({ ia5String: value });
    return new RelativeDistinguishedName([new AttributeTypeAndValue({ type: attributeOidOf(attribute as NameAttribute), value: attributeValue })]);
  });
  return new Uint8Array(AsnConvert.serialize(new Name(rdns)));
}

function invalid(run: () => unknown, message: RegExp): void {
  assert.throws(run, (error: unknown) => error instanceof DomainError && error.kind === 'invalid-request' && message.test(error.message));
}

describe('encodeDistinguishedName', () => {
  it('writes one attribute per RDN in order, with the RFC 5280 string types', () => {
    const dn: DistinguishedName = [
      { attribute: 'DC', value: 'example' },
      { attribute: 'C', value: 'DE' },
      { attribute: 'O', value: 'Acme' },
      { attribute: 'serialNumber', value: 'SN-42' },
      { attribute: 'emailAddress', value: 'ops@example.com' },
      { attribute: 'CN', value: 'Gerät-Ω' },
    ];
    const der = encodeDistinguishedName(dn);
    const name = AsnConvert.parse(der, Name);
    assert.equal(name.length, dn.length);
    assert.ok(name.every((rdn) => rdn.length === 1));
    assert.equal(name[0]![0]!.value.ia5String, 'example');
    assert.equal(name[1]![0]!.value.printableString, 'DE');
    assert.equal(name[2]![0]!.value.utf8String, 'Acme');
    assert.equal(name[3]![0]!.value.printableString, 'SN-42');
    assert.equal(name[4]![0]!.value.ia5String, 'ops@example.com');
    assert.equal(name[5]![0]!.value.utf8String, 'Gerät-Ω');
    assert.deepEqual(decodeName(der), dn);
  });

  it('writes the bytes the asn1-x509 object model writes, for any name it accepts (property)', () => {
    fc.assert(
      fc.property(distinguishedName({ maxLength: 12 }), (dn) => {
        assert.equal(Buffer.from(encodeDistinguishedName(dn)).toString('hex'), Buffer.from(encodedByAsn1Schema(dn)).toString('hex'));
      }),
      { numRuns: 500 },
    );
  });

  it('reads back what it writes, string types included (property)', () => {
    fc.assert(
      fc.property(distinguishedName(), (dn) => {
        const decoded = decodeNameEntries(encodeDistinguishedName(dn));
        assert.deepEqual(
          decoded.map(({ attribute, value }) => ({ attribute, value })),
          dn,
        );
        assert.deepEqual(
          decoded.map(({ stringType }) => stringType),
          dn.map(({ attribute }) => STRING_TYPES[attribute as NameAttribute]),
        );
      }),
      { numRuns: 200 },
    );
  });

  it('writes long-form lengths for values and names past 127 and 255 octets', () => {
    for (const dn of [
      [{ attribute: 'SN' as const, value: '😀'.repeat(40) }],
      [{ attribute: 'givenName' as const, value: 'é'.repeat(300) }],
      Array.from({ length: 30 }, () => ({ attribute: 'OU' as const, value: 'Ω'.repeat(64) })),
    ]) {
      assert.equal(Buffer.from(encodeDistinguishedName(dn)).toString('hex'), Buffer.from(encodedByAsn1Schema(dn)).toString('hex'));
    }
  });

  it('encodes the empty name as an empty SEQUENCE', () => {
    assert.equal(Buffer.from(encodeDistinguishedName([])).toString('hex'), '3000');
  });

  it('invalid-request naming the attribute when a value exceeds its RFC 5280 upper bound', () => {
    invalid(() => encodeDistinguishedName([{ attribute: 'CN', value: 'x'.repeat(65) }]), /CN.*65.*64/);
    invalid(() => encodeDistinguishedName([{ attribute: 'O', value: 'ö'.repeat(65) }]), /subject O/);
    invalid(() => encodeDistinguishedName([{ attribute: 'L', value: 'x'.repeat(129) }]), /subject L/);
    // Bounds count characters, not UTF-8 octets.
    encodeDistinguishedName([{ attribute: 'CN', value: 'Ω'.repeat(64) }]);
  });

  it('invalid-request for values outside the attribute string type or empty', () => {
    invalid(() => encodeDistinguishedName([{ attribute: 'C', value: 'Germany' }]), /C/);
    invalid(() => encodeDistinguishedName([{ attribute: 'C', value: 'de' }]), /C/);
    invalid(() => encodeDistinguishedName([{ attribute: 'serialNumber', value: 'a_b' }]), /serialNumber/);
    invalid(() => encodeDistinguishedName([{ attribute: 'emailAddress', value: 'ü@example.com' }]), /emailAddress/);
    invalid(() => encodeDistinguishedName([{ attribute: 'CN', value: '' }]), /empty/);
    invalid(() => encodeDistinguishedName([{ attribute: 'CN', value: 'evil\u0000.example' }]), /control/);
  });

  it('invalid-request naming the attribute for text subject-text.ts refuses: C1 controls, format characters, separators, noncharacters, lone surrogates', () => {
    invalid(() => encodeDistinguishedName([{ attribute: 'CN', value: 'dev\u009b31mice' }]), /subject CN contains U\+009B, a control character/);
    invalid(() => encodeDistinguishedName([{ attribute: 'O', value: 'Acme\u202Egpj.exe' }]), /subject O contains U\+202E/);
    invalid(() => encodeDistinguishedName([{ attribute: 'CN', value: 'a\u2028b' }]), /separator/);
    invalid(() => encodeDistinguishedName([{ attribute: 'CN', value: 'a\uFFFF' }]), /noncharacter/);
    invalid(() => encodeDistinguishedName([{ attribute: 'CN', value: 'a\uD800' }]), /lone surrogate/);
    encodeDistinguishedName([{ attribute: 'CN', value: 'Gerät\u00A0e\u0301\u{1F600}' }]);
  });

  it('invalid-request for attribute types it has no encoding for', () => {
    invalid(() => validateDistinguishedName([{ attribute: '2.5.4.97', value: 'VATDE-123' }]), /2\.5\.4\.97/);
  });
});

describe('validateNameText', () => {
  it('checks only the text: attributes ccm does not write and lengths it would not write pass', () => {
    validateNameText([{ attribute: '2.5.4.97', value: 'VATDE-123' }, { attribute: 'CN', value: 'x'.repeat(200) }], 'the CA certificate\'s');
  });

  it('invalid-request naming the attribute, with the details given', () => {
    assert.throws(
      () => validateNameText([{ attribute: 'O', value: 'Acme' }, { attribute: 'CN', value: 'ca\u0000evil' }], 'the CA certificate\'s', { field: 'certificatePem' }),
      (error: unknown) =>
        error instanceof DomainError &&
        error.kind === 'invalid-request' &&
        error.message === 'the CA certificate\'s subject CN contains U+0000, a control character' &&
        error.details['attribute'] === 'CN' &&
        error.details['field'] === 'certificatePem',
    );
  });
});

describe('decodeName', () => {
  const cases: Array<[string, number, Uint8Array, string]> = [
    ['UTF8String', 0x0c, Buffer.from('Gerät-Ω', 'utf8'), 'Gerät-Ω'],
    ['PrintableString', 0x13, Buffer.from('device 1'), 'device 1'],
    ['IA5String', 0x16, Buffer.from('dev@example.com'), 'dev@example.com'],
    ['TeletexString as Latin-1', 0x14, Buffer.from('Gerät', 'latin1'), 'Gerät'],
    ['BMPString', 0x1e, Buffer.from('03a90041', 'hex'), 'ΩA'],
    ['UniversalString', 0x1c, Buffer.from('000003a90001f600', 'hex'), 'Ω😀'],
  ];
  for (const [label, tag, value, expected] of cases) {
    it(`reads a ${label} value`, () => {
      assert.deepEqual(decodeName(nameWith(CN_OID, tag, value)), [{ attribute: 'CN', value: expected }]);
    });
  }

  it('reads one-octet strings as ISO 8859-1, C1 controls as C1 controls (not as windows-1252 would)', () => {
    const octets = Uint8Array.from({ length: 0x60 }, (_, i) => 0x80 + i);
    const [entry] = decodeNameEntries(nameWith(CN_OID, 0x14, octets));
    assert.deepEqual([...entry!.value].map((character) => character.codePointAt(0)), [...octets]);
  });

  it('keeps a leading U+FEFF of a UTF8String value, so that the name checked is the name sent', () => {
    assert.deepEqual(decodeName(nameWith(CN_OID, 0x0c, Buffer.from('\uFEFFmeter', 'utf8'))), [{ attribute: 'CN', value: '\uFEFFmeter' }]);
  });

  it('reads an already parsed asn1-x509 Name', () => {
    const der = encodeDistinguishedName([{ attribute: 'O', value: 'Acme' }, { attribute: 'CN', value: 'x' }]);
    assert.deepEqual(decodeName(AsnConvert.parse(der, Name)), [{ attribute: 'O', value: 'Acme' }, { attribute: 'CN', value: 'x' }]);
  });

  it('flattens a multi-valued RDN in encoded order', () => {
    const der = tlv(0x30, tlv(0x31, Buffer.concat([tlv(0x30, Buffer.concat([tlv(0x06, '55040b'), tlv(0x0c, Buffer.from('a'))])), tlv(0x30, Buffer.concat([tlv(0x06, CN_OID), tlv(0x0c, Buffer.from('b'))]))])));
    assert.deepEqual(decodeName(der), [{ attribute: 'OU', value: 'a' }, { attribute: 'CN', value: 'b' }]);
  });

  it('returns an unknown attribute type as its OID, and refuses it when asked to', () => {
    const der = nameWith('550461', 0x0c, Buffer.from('VATDE-123')); // organizationIdentifier 2.5.4.97
    assert.deepEqual(decodeName(der), [{ attribute: '2.5.4.97', value: 'VATDE-123' }]);
    invalid(() => decodeName(der, { rejectUnknownAttributes: true }), /2\.5\.4\.97/);
  });

  it('invalid-request for values that are not character strings or not valid text', () => {
    invalid(() => decodeName(nameWith(CN_OID, 0x02, Uint8Array.of(1))), /not a character string/);
    invalid(() => decodeName(nameWith(CN_OID, 0x0c, Uint8Array.of(0xc3, 0x28))), /UTF-8/);
    invalid(() => decodeName(nameWith(CN_OID, 0x1e, Uint8Array.of(0x00))), /truncated/);
    invalid(() => decodeName(nameWith(CN_OID, 0x1c, Buffer.from('0000d800', 'hex'))), /invalid character/);
  });

  it('invalid-request for malformed framing and trailing bytes', () => {
    invalid(() => decodeName(Uint8Array.of(0x30, 0x05, 0x31)), /malformed/);
    invalid(() => decodeName(Buffer.concat([encodeDistinguishedName([{ attribute: 'CN', value: 'x' }]), Buffer.of(0)])), /malformed/);
    invalid(() => decodeName(Uint8Array.of(0x30, 0x02, 0x31, 0x00)), /empty RelativeDistinguishedName/);
  });
});

describe('formatDistinguishedName', () => {
  it('lists RDNs from last to first as RFC 4514 says', () => {
    const dn: DistinguishedName = [
      { attribute: 'C', value: 'DE' },
      { attribute: 'O', value: 'Acme' },
      { attribute: 'CN', value: 'Gerät-Ω' },
    ];
    assert.equal(formatDistinguishedName(dn), 'CN=Gerät-Ω,O=Acme,C=DE');
  });

  it('escapes the RFC 4514 §2.4 specials, leading # and spaces, trailing spaces and NUL', () => {
    assert.equal(formatDistinguishedName([{ attribute: 'O', value: 'Acme, Inc.+"x"<y>;z\\' }]), 'O=Acme\\, Inc.\\+\\"x\\"\\<y\\>\\;z\\\\');
    assert.equal(formatDistinguishedName([{ attribute: 'CN', value: '#1 ' }]), 'CN=\\#1\\ ');
    assert.equal(formatDistinguishedName([{ attribute: 'CN', value: ' a=b' }]), 'CN=\\ a=b');
    assert.equal(formatDistinguishedName([{ attribute: 'CN', value: 'a\u0000b' }]), 'CN=a\\00b');
    assert.equal(formatDistinguishedName([{ attribute: '2.5.4.97', value: 'x' }, { attribute: 'emailAddress', value: 'a@b' }]), 'emailAddress=a@b,2.5.4.97=x');
    assert.equal(formatDistinguishedName([]), '');
  });
});

describe('commonNameOf', () => {
  it('returns the most specific CN, or null', () => {
    assert.equal(commonNameOf([{ attribute: 'CN', value: 'outer' }, { attribute: 'O', value: 'x' }, { attribute: 'CN', value: 'inner' }]), 'inner');
    assert.equal(commonNameOf([{ attribute: 'O', value: 'x' }]), null);
  });
});
