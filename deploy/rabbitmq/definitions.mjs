/**
 * rabbitmq-setup of docker-compose.yml, run after deploy/mosquitto/setup.mjs
 * in the same directory: definitions.json, which RabbitMQ imports at every
 * boot (load_definitions in rabbitmq.conf). It holds the "/" vhost the MQTT
 * plugin logs devices into, and the agent's management user as
 * packages/rabbitmq-agent/README.md asks: tag administrator (RabbitMQ 3.10
 * has no narrower tag that may manage users, limits and connections), no
 * permissions on any vhost, its password (agent-password, made by setup.mjs)
 * as RabbitMQ's salted hash only. With definitions to load, RabbitMQ seeds no
 * default guest user.
 *
 * The file is kept when its hash is of the current password; owned by
 * BROKER_SETUP_OWNER (RabbitMQ's user in its image), mode 0600.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, chown, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const HASHING_ALGORITHM = 'rabbit_password_hashing_sha256';

/** rabbit_password_hashing_sha256 as definitions carry it: base64(salt ‖ SHA-256(salt ‖ password)), with a 4-byte salt. */
export function rabbitMqPasswordHash(password, salt = randomBytes(4)) {
  if (salt.length !== 4) throw new Error('a RabbitMQ password salt has 4 bytes');
  const digest = createHash('sha256').update(salt).update(password, 'utf8').digest();
  return Buffer.concat([salt, digest]).toString('base64');
}

/** Whether `hash` (as rabbitMqPasswordHash makes it) is of `password`. */
export function isHashOf(hash, password) {
  const bytes = Buffer.from(String(hash), 'base64');
  return bytes.length === 36 && rabbitMqPasswordHash(password, bytes.subarray(0, 4)) === hash;
}

/** The definitions: the vhost, and the agent's user with no permissions anywhere. */
export function agentDefinitions(username, passwordHash, vhost = '/') {
  return {
    users: [{ name: username, password_hash: passwordHash, hashing_algorithm: HASHING_ALGORITHM, tags: 'administrator' }],
    vhosts: [{ name: vhost }],
    permissions: [],
    topic_permissions: [],
    parameters: [],
    global_parameters: [],
    policies: [],
    queues: [],
    exchanges: [],
    bindings: [],
  };
}

function setting(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') throw new Error(`${name} is required`);
  return value;
}

async function main() {
  const directory = setting('BROKER_SETUP_DIR');
  const [uid, gid] = setting('BROKER_SETUP_OWNER', '999:999').split(':').map(Number);
  const username = setting('BROKER_SETUP_RABBITMQ_USERNAME', 'ccm-agent');
  // As the agent reads CCM_RABBITMQ_PASSWORD_FILE: a trailing newline is not part of it.
  const password = (await readFile(join(directory, 'agent-password'), 'utf8')).replace(/\r?\n$/, '');
  if (password === '') throw new Error(`${join(directory, 'agent-password')} is empty`);

  const path = join(directory, 'definitions.json');
  const kept = await readFile(path, 'utf8').then((text) => JSON.parse(text), () => null);
  const keptUser = kept?.users?.find((user) => user.name === username);
  if (keptUser && isHashOf(keptUser.password_hash, password) && JSON.stringify(kept) === JSON.stringify(agentDefinitions(username, keptUser.password_hash))) {
    process.stdout.write('rabbitmq definitions kept\n');
    return;
  }
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(agentDefinitions(username, rabbitMqPasswordHash(password)), null, 2)}\n`, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await chown(temporary, uid, gid);
  await rename(temporary, path);
  process.stdout.write(`rabbitmq definitions written for management user "${username}"\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
