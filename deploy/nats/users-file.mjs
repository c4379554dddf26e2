/**
 * nats-setup of docker-compose.yml, run after deploy/mosquitto/setup.mjs:
 * nats-server refuses to start without the users file it includes, and
 * afterwards only the agent writes it. When there is none, this writes the
 * agent's own file with no device (renderUsersFile of @ccm/nats-agent: its
 * placeholder user only, never `users = []`, which would admit every
 * certificate the trust bundle covers). The file and its directory are handed
 * to BROKER_SETUP_OWNER, the uid of nats-server and the agent: the agent
 * replaces the file by temp file + rename in that directory.
 */
import { renderUsersFile } from '@ccm/nats-agent';
import { chmod, chown, rename, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

function setting(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') throw new Error(`${name} is required`);
  return value;
}

const path = setting('BROKER_SETUP_NATS_USERS_FILE');
const [uid, gid] = setting('BROKER_SETUP_OWNER').split(':').map(Number);

await chown(dirname(path), uid, gid);
await chmod(dirname(path), 0o755);
if (await stat(path).then(() => true, () => false)) {
  process.stdout.write(`nats users file ${path} kept (the agent's)\n`);
} else {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, renderUsersFile([], null), { mode: 0o644 });
  await chown(temporary, uid, gid);
  await rename(temporary, path);
  process.stdout.write(`nats users file ${path} written with no device\n`);
}
