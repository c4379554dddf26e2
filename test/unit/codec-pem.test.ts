/** PEM: RFC 7468 strict decoding with clear errors, 64-column encoding. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DomainError } from '../../src/shared/errors.js';
import { decodePem, decodePemBlocks, decodeSinglePem, encodePem, looksLikePem } from '../../src/codec/pem.js';

const DER = Uint8Array.from({ length: 100 }, (_, i) => i);
const OTHER = Uint8Array.of(1, 2, 3);

function malformed(run: () => unknown, message: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof DomainError);
    assert.equal(error.kind, 'malformed-pem');
    assert.match(error.message, message);
    return true;
  });
}

describe('encodePem', () => {
  it('writes 64-character lines and ends with a newline', () => {
    const pem = encodePem(DER, 'CERTIFICATE');
    const lines = pem.split('\n');
    // 100 octets are 136 base64 characters: 64 + 64 + 8; the final newline leaves an empty last line.
    assert.deepEqual(
      lines.map((line) => (line.startsWith('-----') ? line : line.length)),
      ['-----BEGIN CERTIFICATE-----', 64, 64, 8, '-----END CERTIFICATE-----', 0],
    );
    assert.ok(pem.endsWith('-----\n'));
    assert.deepEqual(decodeSinglePem(pem, 'CERTIFICATE'), DER);
  });
});

describe('decodePem', () => {
  it('reads a chain in order and tolerates whitespace and CRLF around and between blocks', () => {
    const text = `\n  ${encodePem(DER, 'CERTIFICATE')}\r\n\t\n${encodePem(OTHER, 'CERTIFICATE').replaceAll('\n', '\r\n')}  \n`;
    assert.deepEqual(decodePem(text, 'CERTIFICATE'), [DER, OTHER]);
  });

  it('accepts any of the expected labels and reports which one it read', () => {
    const blocks = decodePemBlocks(encodePem(OTHER, 'NEW CERTIFICATE REQUEST'), ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']);
    assert.deepEqual(blocks, [{ label: 'NEW CERTIFICATE REQUEST', der: OTHER }]);
  });

  it('accepts lines of other widths', () => {
    const body = Buffer.from(DER).toString('base64');
    assert.deepEqual(decodeSinglePem(`-----BEGIN CERTIFICATE-----\n${body.slice(0, 10)}\n${body.slice(10)}\n-----END CERTIFICATE-----`, 'CERTIFICATE'), DER);
  });

  it('malformed-pem for a wrong label, naming both', () => {
    malformed(() => decodePem(encodePem(DER, 'CERTIFICATE'), 'CERTIFICATE REQUEST'), /expected "CERTIFICATE REQUEST", found "CERTIFICATE"/);
  });

  it('malformed-pem for broken or non-canonical base64', () => {
    const pem = encodePem(DER, 'CERTIFICATE');
    malformed(() => decodePem(pem.replace('AAECAwQF', 'AAEC*wQF'), 'CERTIFICATE'), /not base64/);
    malformed(() => decodePem(pem.replace('AAECAwQF', 'AAECAwQ'), 'CERTIFICATE'), /not valid base64/);
    // "AQ==" is 0x01; "AR==" carries non-zero padding bits.
    malformed(() => decodePem('-----BEGIN CERTIFICATE-----\nAR==\n-----END CERTIFICATE-----\n', 'CERTIFICATE'), /canonical/);
    malformed(() => decodePem('-----BEGIN CERTIFICATE-----\nAQ==\nAQ==\n-----END CERTIFICATE-----\n', 'CERTIFICATE'), /not valid base64/);
    malformed(() => decodePem('-----BEGIN CERTIFICATE-----\nAQ ID\n-----END CERTIFICATE-----\n', 'CERTIFICATE'), /not base64/);
  });

  it('malformed-pem for text around the blocks, headers, empty or unclosed blocks', () => {
    const pem = encodePem(DER, 'CERTIFICATE');
    malformed(() => decodePem(`subject=CN=x\n${pem}`, 'CERTIFICATE'), /outside a PEM block on line 1/);
    malformed(() => decodePem(`${pem}trailing`, 'CERTIFICATE'), /outside a PEM block/);
    malformed(() => decodePem(pem.replace('\n', '\nProc-Type: 4,ENCRYPTED\n'), 'CERTIFICATE'), /headers/);
    malformed(() => decodePem('-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n', 'CERTIFICATE'), /empty/);
    malformed(() => decodePem(pem.replace('-----END CERTIFICATE-----', ''), 'CERTIFICATE'), /not closed/);
    malformed(() => decodePem(pem.replace('END CERTIFICATE', 'END X509 CRL'), 'CERTIFICATE'), /closed as "X509 CRL"/);
    malformed(() => decodePem('', 'CERTIFICATE'), /no PEM block/);
    malformed(() => decodePem('   \n', 'CERTIFICATE'), /no PEM block/);
  });

  it('decodeSinglePem refuses several blocks', () => {
    malformed(() => decodeSinglePem(encodePem(DER, 'CERTIFICATE') + encodePem(OTHER, 'CERTIFICATE'), 'CERTIFICATE'), /one PEM block, found 2/);
  });
});

describe('looksLikePem', () => {
  it('tells PEM text from DER', () => {
    assert.equal(looksLikePem(encodePem(DER, 'CERTIFICATE')), true);
    assert.equal(looksLikePem(Buffer.from(`\n${encodePem(DER, 'CERTIFICATE')}`)), true);
    assert.equal(looksLikePem(Uint8Array.of(0x30, 0x03)), false);
  });
});
