/** Local custody on a real filesystem: encrypted at rest, idempotent and race-safe creation, a KEK file that must be private. */
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { KEY_ALGORITHMS, signatureSchemeFor } from '../../src/codec/key-algorithm.js';
import { LocalKeyCustody } from '../../src/custody/local-key-custody.js';
import { CustodyError, CustodyKeyNotFound } from '../../src/shared/errors.js';

let directory: string;
before(async () => {
  directory = await mkdtemp(join(tmpdir(), 'ccm-local-custody-'));
});
after(async () => {
  await rm(directory, { recursive: true, force: true });
});

test('each algorithm signs with the scheme X.509 names for it', async () => {
  const custody = await LocalKeyCustody.open(join(directory, 'algorithms'), { source: 'env', key: randomBytes(32) });
  for (const algorithm of KEY_ALGORITHMS) {
    const key = await custody.createKey(`k-${algorithm}`, algorithm);
    const data = Buffer.from(`to be signed by ${algorithm}`);
    const signature = await custody.sign(key.name, data);
    const publicKey = createPublicKey({ key: Buffer.from(key.publicKeyDer), format: 'der', type: 'spki' });
    assert.equal(verify(signatureSchemeFor(algorithm).hash, data, { key: publicKey, dsaEncoding: 'der' }, signature), true, algorithm);
  }
});

test('key files hold no plaintext key, are private to the owner, and need the right KEK', async () => {
  const keyDirectory = join(directory, 'at-rest');
  const kek = randomBytes(32);
  const custody = await LocalKeyCustody.open(keyDirectory, { source: 'env', key: kek });
  await custody.createKey('platform-ca', 'ecdsa-p256');
  const [file] = (await readdir(keyDirectory)).filter((f) => f.endsWith('.key.json'));
  const text = await readFile(join(keyDirectory, file!), 'utf8');
  assert.doesNotMatch(text, /PRIVATE KEY|MIG/);
  const { stat } = await import('node:fs/promises');
  assert.equal((await stat(join(keyDirectory, file!))).mode & 0o777, 0o600);

  const wrongKek = await LocalKeyCustody.open(keyDirectory, { source: 'env', key: randomBytes(32) });
  await assert.rejects(wrongKek.sign('platform-ca', Buffer.from('x')), (e: unknown) => e instanceof CustodyError && !/MIG|PRIVATE/.test((e as Error).message));
  const sameKek = await LocalKeyCustody.open(keyDirectory, { source: 'env', key: kek });
  assert.ok((await sameKek.sign('platform-ca', Buffer.from('x'))).length > 0);
});

test('creating a key twice returns the same key; another algorithm under the name is refused', async () => {
  const custody = await LocalKeyCustody.open(join(directory, 'idempotent'), { source: 'env', key: randomBytes(32) });
  const first = await custody.createKey('tenant-1', 'ecdsa-p384');
  const again = await custody.createKey('tenant-1', 'ecdsa-p384');
  assert.deepEqual(Buffer.from(again.publicKeyDer), Buffer.from(first.publicKeyDer));
  await assert.rejects(custody.createKey('tenant-1', 'ed25519'), CustodyError);
  await assert.rejects(custody.getKey('absent'), CustodyKeyNotFound);
  await assert.rejects(custody.sign('absent', Buffer.from('x')), CustodyKeyNotFound);
  await assert.rejects(custody.createKey('../escape', 'ed25519'), CustodyError);
});

test('two processes racing to create one key end up with a single key', async () => {
  const keyDirectory = join(directory, 'race');
  const kek = randomBytes(32);
  const a = await LocalKeyCustody.open(keyDirectory, { source: 'env', key: kek });
  const b = await LocalKeyCustody.open(keyDirectory, { source: 'env', key: kek });
  const created = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).createKey('contended', 'ecdsa-p256')));
  assert.equal(new Set(created.map((k) => Buffer.from(k.publicKeyDer).toString('hex'))).size, 1);
  assert.deepEqual((await readdir(keyDirectory)).filter((f) => f.includes('contended')), ['contended.key.json']);
});

test('a KEK file is created 0600 when absent, and refused when others can read it', async () => {
  const kekPath = join(directory, 'kek-dir', 'kek');
  await LocalKeyCustody.open(join(directory, 'kek-keys'), { source: 'file', path: kekPath });
  const { stat } = await import('node:fs/promises');
  assert.equal((await stat(kekPath)).mode & 0o777, 0o600);
  const loose = join(directory, 'loose-kek');
  await writeFile(loose, randomBytes(32).toString('base64'));
  await chmod(loose, 0o644);
  await assert.rejects(LocalKeyCustody.open(join(directory, 'loose-keys'), { source: 'file', path: loose }), /chmod 600/);
});
