/**
 * The users file's text (sorted, one JSON entry a line, which nats-server's
 * configuration syntax reads), its parser (which refuses files the agent
 * did not write), and the atomic replacement on a real temp directory.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { AtomicUsersFile, DEFAULT_DEVICE_PERMISSIONS, parseUsersFile, PLACEHOLDER_USER, renderUsersFile, UsersFileError } from '../src/index.js';

describe('renderUsersFile', () => {
  test('lists the users sorted and once each; the device permissions once, as the default_permissions before the list', () => {
    const text = renderUsersFile(['CN=b', 'CN=a\\,x', 'CN=b'], { publish: { allow: ['devices.>'] } });
    const entries = text.split('\n').filter((line) => line.startsWith('  {') && !line.includes(PLACEHOLDER_USER));
    assert.deepEqual(entries, ['  {"user":"CN=a\\\\,x"}', '  {"user":"CN=b"}']);
    assert.match(text, /^# Written by ccm-nats-agent/);
    assert.match(text, /\ndefault_permissions = \{"publish":\{"allow":\["devices\.>"\]\}\}\nusers = \[\n[\s\S]*\n\]\n$/);
  });

  test('without permissions there is no default_permissions line (the account\'s defaults apply)', () => {
    const text = renderUsersFile(['CN=a'], null);
    assert.match(text, /\n {2}\{"user":"CN=a"\}\n\]\n$/);
    assert.doesNotMatch(text, /default_permissions/);
  });

  test('the list is never empty: a placeholder user no certificate maps to, allowed nothing, comes first (users = [] would admit everyone)', () => {
    const lines = renderUsersFile([], DEFAULT_DEVICE_PERMISSIONS).split('\n');
    const entry = JSON.parse(lines[lines.indexOf('users = [') + 1]!) as { user: string; permissions: unknown };
    assert.equal(entry.user, PLACEHOLDER_USER);
    assert.deepEqual(entry.permissions, { publish: { deny: ['>'] }, subscribe: { deny: ['>'] } });
    assert.ok(!PLACEHOLDER_USER.includes('=') && /[^\x00-\x7f]/.test(PLACEHOLDER_USER), 'no DN, SAN e-mail, DNS name or URI can equal it');
    assert.deepEqual(parseUsersFile(renderUsersFile([], null), 'f'), []);
  });

  test('is the same text for the same set in any order (so an unchanged set is never rewritten)', () => {
    assert.equal(renderUsersFile(['CN=z', 'CN=ä', 'CN=a'], DEFAULT_DEVICE_PERMISSIONS), renderUsersFile(['CN=a', 'CN=z', 'CN=ä'], DEFAULT_DEVICE_PERMISSIONS));
  });
});

describe('parseUsersFile', () => {
  test('reads back what renderUsersFile wrote, non-ASCII and escapes included', () => {
    const users = ['CN=a\\,b', 'CN=Müller', 'CN=q\\"1', 'SERIALNUMBER=1,CN=s'];
    assert.deepEqual(parseUsersFile(renderUsersFile(users, DEFAULT_DEVICE_PERMISSIONS), 'f'), [...users].sort());
  });

  test('reads a file of an earlier agent, which wrote the permissions into each user', () => {
    const earlier = `users = [\n  {"user":"${PLACEHOLDER_USER}","permissions":{"publish":{"deny":[">"]},"subscribe":{"deny":[">"]}}}\n  {"user":"CN=a","permissions":{"publish":{"allow":["devices.>"]}}}\n]\n`;
    assert.deepEqual(parseUsersFile(earlier, 'f'), ['CN=a']);
  });

  test('takes an operator\'s empty "users = []" and an empty file', () => {
    assert.deepEqual(parseUsersFile('users = []\n', 'f'), []);
    assert.deepEqual(parseUsersFile('# nothing yet\n', 'f'), []);
  });

  test('refuses a file someone else keeps rather than replacing it', () => {
    assert.throws(() => parseUsersFile('users = [\n  { user: "CN=a", password: "x" }\n]\n', 'f'), UsersFileError);
    assert.throws(() => parseUsersFile('authorization {\n  users = []\n}\n', 'f'), /expected "users = \["/);
    assert.throws(() => parseUsersFile('users = [\n  {"user":"CN=a"}\n', 'f'), /not closed/);
    assert.throws(() => parseUsersFile('users = []\ntimeout = 2\n', 'f'), /nothing may follow/);
  });
});

describe('AtomicUsersFile', () => {
  test('replaces the file whole, keeps its mode, and leaves no temp file behind', async (t) => {
    const directory = await mkdtemp(join(tmpdir(), 'ccm-nats-file-'));
    t.after(() => rm(directory, { recursive: true, force: true }));
    const path = join(directory, 'users.conf');
    const file = new AtomicUsersFile(path);
    assert.equal(await file.read(), null);
    await writeFile(path, 'users = []\n', { mode: 0o640 });
    const before = await stat(path);
    await file.write(renderUsersFile(['CN=a'], null));
    const after = await stat(path);
    assert.equal(after.mode & 0o777, 0o640);
    assert.notEqual(after.ino, before.ino, 'a new inode: renamed into place, not written in place');
    assert.deepEqual(await readdir(directory), ['users.conf']);
    const stored = await file.read();
    assert.equal(stored?.text, await readFile(path, 'utf8'));
    assert.equal(stored?.modifiedMs, after.mtimeMs);
  });

  test('a directory it may not write fails with UsersFileError', async () => {
    const file = new AtomicUsersFile('/proc/ccm-nats-users.conf');
    await assert.rejects(file.write('users = []\n'), UsersFileError);
  });
});
