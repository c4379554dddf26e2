/**
 * The DN → RabbitMQ user name table: each row is a subject as ccm prints it
 * and the name RabbitMQ 3.10.8 logged for a certificate with that subject
 * ("MQTT login failed for user '...'") and then admitted once a user of
 * that name existed (made with openssl, connected with mqtt.js; the medium
 * test repeats the common shapes on every run).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rabbitMqUsernameOf } from '../src/rabbitmq-identity.js';

const OBSERVED: ReadonlyArray<readonly [string, string, string]> = [
  ['CN only', 'CN=sensor-1', 'CN=sensor-1'],
  ['CN and O, most specific first', 'CN=sensor-2,O=Acme', 'CN=sensor-2,O=Acme'],
  ['escaped commas', 'CN=sensor\\,3,O=Acme\\, Inc.', 'CN=sensor\\,3,O=Acme\\, Inc.'],
  ['escaped plus', 'CN=a\\+b', 'CN=a\\+b'],
  ['non-ASCII as UTF-8 bytes in upper-case hex', 'CN=Zähler-ü,O=Müller', 'CN=Z\\C3\\A4hler-\\C3\\BC,O=M\\C3\\BCller'],
  ['a character outside the BMP', 'CN=😀 x', 'CN=\\F0\\9F\\98\\80 x'],
  ['the other RFC 4514 specials; "=" and an inner "#" as they are', 'CN=x\\"y\\;z=w\\<\\>#\\\\', 'CN=x\\"y\\;z=w\\<\\>#\\\\'],
  ['leading "#" and " ", trailing "#" kept', 'O=\\#hash,CN=\\ lead#', 'O=\\#hash,CN=\\ lead#'],
  ['"~" escaped as hex (RabbitMQ escapes from 0x7E up), trailing space, a lone space', 'CN=a~b\\ ,OU=\\ ,O=é', 'CN=a\\7Eb\\ ,OU=\\ ,O=\\C3\\A9'],
  [
    'every attribute type ccm names, and an unknown OID',
    'CN=all,2.5.4.97=NTRDE-1,emailAddress=a@b.c,UID=u1,serialNumber=S1,pseudonym=jj,givenName=John,SN=Smith,title=Dr,OU=Unit,O=Acme,L=München,ST=Bayern,C=DE,DC=example,DC=com',
    'CN=all,2.5.4.97=NTRDE-1,EMAILADDRESS=a@b.c,UID=u1,SERIALNUMBER=S1,PSEUDONYM=jj,GIVENNAME=John,SN=Smith,TITLE=Dr,OU=Unit,O=Acme,L=M\\C3\\BCnchen,ST=Bayern,C=DE,DC=example,DC=com',
  ],
  ['initials and generationQualifier by name, street as its OID', 'CN=more,2.5.4.45=uniq,2.5.4.44=III,2.5.4.43=JJ,2.5.4.9=Main St 1', 'CN=more,2.5.4.45=uniq,GENERATIONQUALIFIER=III,INITIALS=JJ,2.5.4.9=Main St 1'],
  ['a multi-valued RDN in DER order (shorter encoding first)', 'CN=sensor-5+serialNumber=42,OU=Plant 1,O=Acme,C=DE', 'SERIALNUMBER=42+CN=sensor-5,OU=Plant 1,O=Acme,C=DE'],
];

for (const [shape, subject, username] of OBSERVED) {
  test(`identity: ${shape}`, () => {
    assert.equal(rabbitMqUsernameOf(subject), username);
  });
}

test('identity: a multi-valued RDN maps the same whatever order its attributes are written in', () => {
  assert.equal(rabbitMqUsernameOf('serialNumber=42+CN=sensor-5,O=Acme'), 'SERIALNUMBER=42+CN=sensor-5,O=Acme');
  assert.equal(rabbitMqUsernameOf('CN=sensor-5+serialNumber=42,O=Acme'), 'SERIALNUMBER=42+CN=sensor-5,O=Acme');
});

test('identity: attributes of equal length in one RDN are ordered by OID', () => {
  // O (2.5.4.10) and OU (2.5.4.11) with one-character values: same length, OID decides.
  assert.equal(rabbitMqUsernameOf('OU=b+O=a'), 'O=a+OU=b');
});

test('identity: hex escapes (\\XX) in the subject are bytes, as RFC 4514 reads them', () => {
  assert.equal(rabbitMqUsernameOf('CN=Z\\C3\\A4hler'), 'CN=Z\\C3\\A4hler');
});

test('identity: names in other spellings OpenSSL prints (GN, E) map to the same type', () => {
  assert.equal(rabbitMqUsernameOf('CN=a,GN=John,E=a@b.c'), 'CN=a,GIVENNAME=John,EMAILADDRESS=a@b.c');
});

test('identity: no name for an empty subject, text that is no DN, or a BER hex value', () => {
  assert.equal(rabbitMqUsernameOf(''), null);
  assert.equal(rabbitMqUsernameOf('sensor-1'), null);
  assert.equal(rabbitMqUsernameOf('NOTATYPE=x'), null);
  assert.equal(rabbitMqUsernameOf('CN=#0c0161'), null);
  assert.equal(rabbitMqUsernameOf('CN=dangling\\'), null);
});
