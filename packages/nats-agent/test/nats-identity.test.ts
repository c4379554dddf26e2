/**
 * identityOf's known answers: ccm's subject text → the user name
 * nats-server 2.9 matches. The expected names are the ones nats-server
 * 2.9.10 logged and admitted for openssl-made certificates of each shape
 * (test/medium/nats-adapter.test.ts connects with them).
 */
import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { natsUserOf, natsUserOfSubject, parseRfc4514, versionHasKick } from '../src/index.js';
import { certificateUrnOf, urnUserOf } from '../src/nats-identity.js';

describe('natsUserOf (Go\'s rendering of the subject, which nats-server looks up)', () => {
  const vectors: ReadonlyArray<readonly [string, string, string]> = [
    ['CN only', 'CN=sensor-1', 'CN=sensor-1'],
    ['CN and O: most specific first, as ccm prints it', 'CN=sensor-1,O=Acme', 'CN=sensor-1,O=Acme'],
    ['a comma in the CN stays escaped', 'CN=a\\,b', 'CN=a\\,b'],
    ['a plus in the CN stays escaped', 'CN=a\\+b', 'CN=a\\+b'],
    ['non-ASCII as UTF-8 text', 'CN=Müller-ü', 'CN=Müller-ü'],
    ['hex escapes of UTF-8 are decoded', 'CN=M\\C3\\BCller', 'CN=Müller'],
    ['CJK and emoji', 'CN=設備-1 🌡', 'CN=設備-1 🌡'],
    ['quote, semicolon, angle brackets escaped the way Go does', 'CN=q\\"1\\;\\<\\>', 'CN=q\\"1\\;\\<\\>'],
    ['a leading space and a leading # are escaped, an inner # is not', 'CN=\\ lead#', 'CN=\\ lead#'],
    ['a trailing space is escaped', 'CN=tail\\ ', 'CN=tail\\ '],
    ['an inner = is not escaped', 'CN=a=b', 'CN=a=b'],
    ['Go orders by type, not by the certificate: SERIALNUMBER before CN', 'CN=s1,serialNumber=1234', 'SERIALNUMBER=1234,CN=s1'],
    ['every known type, in Go\'s order', 'CN=f1,OU=Lab,O=Acme,L=Mun,ST=Bay,C=DE', 'CN=f1,OU=Lab,O=Acme,L=Mun,ST=Bay,C=DE'],
    ['a reversed certificate maps to the same name', 'O=Acme,CN=r1', 'CN=r1,O=Acme'],
    ['repeated OUs become one multi-valued RDN, in encoding order', 'CN=t1,OU=b,OU=a,O=Acme', 'CN=t1,OU=a+OU=b,O=Acme'],
    ['a multi-valued RDN (flattened by ccm) maps by its types: UID is dropped', 'UID=u1,CN=m1,O=Acme', 'CN=m1,O=Acme'],
    ['a multi-valued RDN of known types maps to Go\'s regrouping', 'OU=x,CN=m2,O=Acme', 'CN=m2,OU=x,O=Acme'],
    ['emailAddress in the subject is dropped', 'CN=e1,emailAddress=x@y.z', 'CN=e1'],
    ['DC is dropped', 'CN=d1,DC=acme,DC=com', 'CN=d1'],
    ['other attributes ccm names are dropped', 'CN=p1,title=Boss,SN=Smith,givenName=Al,pseudonym=x,UID=7', 'CN=p1'],
    ['STREET and POSTALCODE, printed by ccm as OIDs', 'CN=h1,2.5.4.17=80331,2.5.4.9=Main St 1', 'CN=h1,POSTALCODE=80331,STREET=Main St 1'],
    ['only the most specific CN counts (pkix keeps the last one encoded)', 'CN=inner,CN=outer,O=Acme', 'CN=inner,O=Acme'],
    ['unknown OIDs are dropped', 'CN=o1,2.5.4.97=VATDE-123', 'CN=o1'],
  ];
  for (const [shape, subject, user] of vectors) {
    test(`${shape}: ${subject} → ${user}`, () => {
      assert.equal(natsUserOf(subject), user);
    });
  }

  test('a subject with none of the attributes nats-server maps has no user', () => {
    assert.deepEqual(natsUserOfSubject('UID=only'), { unmappable: 'no-mapped-attribute' });
    assert.deepEqual(natsUserOfSubject(''), { unmappable: 'no-mapped-attribute' });
  });

  test('text that is not a DN has no user', () => {
    for (const text of ['sensor-1', 'CN=a\\', 'CN=#0403616263', 'CN=\\C3', '=x']) assert.deepEqual(natsUserOfSubject(text), { unmappable: 'unparsable' }, text);
  });

  test('a control character (which ccm never prints) has no user', () => {
    assert.deepEqual(natsUserOfSubject('CN=a\\00b'), { unmappable: 'control-character' });
  });
});

describe('parseRfc4514', () => {
  test('reads attributes in printed order, undoing both escape forms', () => {
    assert.deepEqual(parseRfc4514('CN=a\\,b\\2Cc,O=x\\+y+OU=z'), [
      { type: 'CN', value: 'a,b,c' },
      { type: 'O', value: 'x+y' },
      { type: 'OU', value: 'z' },
    ]);
  });
});

describe('versionHasKick', () => {
  test('2.10.0 and later have $SYS.REQ.SERVER.<id>.KICK; 2.9 does not', () => {
    assert.equal(versionHasKick('2.9.10'), false);
    assert.equal(versionHasKick('2.10.0'), true);
    assert.equal(versionHasKick('2.11.3-beta'), true);
    assert.equal(versionHasKick('3.0.0'), true);
    assert.equal(versionHasKick('garbage'), false);
  });
});

describe('certificateUrnOf and urnUserOf (the URN ccm writes as the SAN of its client certificates)', () => {
  const id = '01935C4E-7B1A-7C3E-9D2F-5A6B7C8D9E0F';
  const status = { id, tenantId: 't', authorityId: 'a', serialNumber: '01', subject: 'CN=d', commonName: 'd', state: 'active' as const, notAfter: new Date(0) };

  it('names a certificate by the RFC 4122 URN of its id, in lowercase as ccm writes it', () => {
    assert.equal(certificateUrnOf({ id }), 'urn:uuid:01935c4e-7b1a-7c3e-9d2f-5a6b7c8d9e0f');
  });

  it('admits a certificate under its URN only when the certificate carries it', () => {
    assert.equal(urnUserOf({ ...status, subjectAltNames: { uri: ['urn:uuid:01935c4e-7b1a-7c3e-9d2f-5a6b7c8d9e0f'] } }), 'urn:uuid:01935c4e-7b1a-7c3e-9d2f-5a6b7c8d9e0f');
    assert.equal(urnUserOf({ ...status, subjectAltNames: { uri: ['urn:uuid:00000000-0000-0000-0000-000000000000'] } }), null);
    assert.equal(urnUserOf(status), null, 'an older ccm that does not say');
  });
});
