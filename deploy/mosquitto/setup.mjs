/**
 * broker-setup of docker-compose.yml: everything Mosquitto and ccm's agent
 * need from ccm before they start, written into the shared broker directory.
 * Run with ccm's image (node and @peculiar/x509 are there) at every
 * `docker compose up`; what exists is kept.
 *
 *   clients-ca.pem   the demo tenant's trust bundle (Mosquitto's cafile), refreshed each run
 *   server.pem/.key  Mosquitto's TLS certificate for "mosquitto" and "localhost", from
 *   server-ca.pem    a CA made here once (devices trust this file)
 *   agent-password   the dynamic-security admin password (entrypoint.sh makes the user);
 *                    RabbitMQ's: its management user's; none with BROKER_SETUP_AGENT_PASSWORD=no
 *   agent.env        the agent's CCM_AGENT_TENANT_IDS, CCM_AGENT_SUBSCRIBER_ID and
 *                    CCM_AGENT_CCM_AUTHORIZATION (a broker key), sourced by its command
 *
 * The tenant (BROKER_SETUP_TENANT_NAME, "demo") is created when missing, the
 * broker key and event subscriber once. Files end up owned by BROKER_SETUP_OWNER
 * (Mosquitto's user in its image), the secrets mode 0600. Nothing secret is printed.
 *
 * The brokers profile runs it for RabbitMQ and NATS too (rabbitmq-setup,
 * nats-setup), each with its own directory, owner, server names and
 * BROKER_SETUP_NAME; deploy/rabbitmq/ and deploy/nats/ add what only that
 * broker needs.
 */
import 'reflect-metadata'; // @peculiar/x509 needs it loaded first
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto } from 'node:crypto';
import { chmod, chown, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

x509.cryptoProvider.set(webcrypto);

function setting(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') throw new Error(`${name} is required`);
  return value;
}

const ccmUrl = setting('BROKER_SETUP_CCM_URL').replace(/\/+$/, '');
const adminKey = setting('BROKER_SETUP_ADMIN_API_KEY');
const tenantName = setting('BROKER_SETUP_TENANT_NAME', 'demo');
const directory = setting('BROKER_SETUP_DIR');
const [uid, gid] = setting('BROKER_SETUP_OWNER', '1883:1883').split(':').map(Number);
const serverNames = setting('BROKER_SETUP_SERVER_NAMES', 'mosquitto,localhost').split(',').map((name) => name.trim()).filter(Boolean);
// The broker key's and the event subscriber's name: one of each per broker, since agents sharing a subscriber would split its events.
const credentialName = setting('BROKER_SETUP_NAME', 'mosquitto-compose');
// "no" for a broker whose agent logs in with no password (NATS: pid file and loopback monitoring).
const agentPassword = setting('BROKER_SETUP_AGENT_PASSWORD', 'yes');
if (agentPassword !== 'yes' && agentPassword !== 'no') throw new Error(`BROKER_SETUP_AGENT_PASSWORD must be yes or no, got "${agentPassword}"`);

async function ccm(method, path, body) {
  const response = await fetch(`${ccmUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 300)}`);
  return (response.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text;
}

async function exists(path) {
  return stat(path).then(() => true, () => false);
}

/** temp file + rename, so a reader never sees half a file. */
async function put(name, content, mode = 0o644) {
  const path = join(directory, name);
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, content, { mode });
  await chmod(temporary, mode);
  await chown(temporary, uid, gid);
  await rename(temporary, path);
}

async function findTenant() {
  let after = null;
  do {
    const page = await ccm('GET', `/v1/tenants?limit=100${after ? `&after=${encodeURIComponent(after)}` : ''}`);
    const found = page.items.find((tenant) => tenant.name === tenantName);
    if (found) return found;
    after = page.nextCursor;
  } while (after);
  return null;
}

async function agentEnvironment(tenantId) {
  const path = join(directory, 'agent.env');
  if (await exists(path)) {
    const kept = await readFile(path, 'utf8');
    if (kept.includes(`CCM_AGENT_TENANT_IDS=${tenantId}\n`)) return null;
  }
  const credential = await ccm('POST', '/v1/api-credentials', { name: credentialName, role: 'broker' });
  const subscribers = await ccm('GET', '/v1/event-subscribers');
  const subscriber = subscribers.find((candidate) => candidate.name === credentialName) ?? (await ccm('POST', '/v1/event-subscribers', { name: credentialName, tenantIds: [tenantId] }));
  return [`CCM_AGENT_TENANT_IDS=${tenantId}`, `CCM_AGENT_SUBSCRIBER_ID=${subscriber.id}`, `CCM_AGENT_CCM_AUTHORIZATION='Bearer ${credential.key}'`, ''].join('\n');
}

const ECDSA = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

function pem(label, der) {
  return `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').match(/.{1,64}/g).join('\n')}\n-----END ${label}-----\n`;
}

function serialNumber() {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] & 0x7f) | 0x10;
  return bytes.toString('hex');
}

/** Mosquitto's own certificate, from a CA that exists for this stack only. */
async function serverCertificate() {
  const notBefore = new Date(Date.now() - 3600_000);
  const notAfter = new Date(Date.now() + 825 * 86400_000);
  const caKeys = await webcrypto.subtle.generateKey(ECDSA, true, ['sign', 'verify']);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: 'CN=ccm compose MQTT server CA',
    keys: caKeys,
    notBefore,
    notAfter,
    signingAlgorithm: ECDSA,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  const serverKeys = await webcrypto.subtle.generateKey(ECDSA, true, ['sign', 'verify']);
  const server = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${serverNames[0]}`,
    issuer: ca.subject,
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    notBefore,
    notAfter,
    signingAlgorithm: ECDSA,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([...serverNames.map((value) => ({ type: 'dns', value })), { type: 'ip', value: '127.0.0.1' }]),
    ],
  });
  const key = pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', serverKeys.privateKey));
  return { caPem: ca.toString('pem') + '\n', certificatePem: server.toString('pem') + '\n', keyPem: key };
}

await mkdir(directory, { recursive: true });
await chown(directory, uid, gid);
await chmod(directory, 0o755);

const tenant = (await findTenant()) ?? (await ccm('POST', '/v1/tenants', { name: tenantName }));
await put('clients-ca.pem', await ccm('GET', `/v1/tenants/${tenant.id}/ca-chain`));

const environment = await agentEnvironment(tenant.id);
if (environment !== null) await put('agent.env', environment, 0o600);

if (!(await exists(join(directory, 'server.pem')))) {
  const server = await serverCertificate();
  await put('server-ca.pem', server.caPem);
  await put('server.key', server.keyPem, 0o600);
  await put('server.pem', server.certificatePem);
}
if (agentPassword === 'yes' && !(await exists(join(directory, 'agent-password')))) await put('agent-password', `${randomBytes(24).toString('base64url')}\n`, 0o600);

process.stdout.write(`broker directory ready for tenant "${tenantName}" (${tenant.id})\n`);
