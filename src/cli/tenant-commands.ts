/** `ccm tenant create|list|roll-over|retire-ca`: tenants and their root CAs through the REST API (administrator key). */
import { REVOKE_REASONS } from '@ccm/event-consumer/contract';
import { connect, oneOf, CONNECTION_OPTIONS, CONNECTION_USAGE, defineCommand, json, positiveInteger, required, type CommandGroup } from './command.js';

const create = defineCommand({
  name: 'create',
  summary: 'create a tenant (its root CA is issued at once); prints its id',
  usage: `Usage: ccm tenant create --name NAME [--max-ttl SECONDS] [--json]

Creates a tenant; ccm issues its root CA, signed by the platform CA, at once.
Prints the tenant id, or with --json the tenant and its root CA as JSON.
Needs an administrator API key.

Options:
  --name NAME             unique name: letters, digits, space, ".", "_", "-"
  --max-ttl SECONDS       cap on the validity of this tenant's client certificates
  --json                  print the whole answer as JSON

${CONNECTION_USAGE}
`,
  options: { name: { type: 'string' }, 'max-ttl': { type: 'string' }, json: { type: 'boolean' }, ...CONNECTION_OPTIONS },
  async run(values, { env, out }) {
    const name = required(values.name, '--name');
    const maxTtlSeconds = positiveInteger(values['max-ttl'], '--max-ttl');
    const client = await connect(values, env);
    const tenant = await client.createTenant(name, maxTtlSeconds);
    out(values.json ? json(tenant) : `${tenant.id}\n`);
  },
});

const list = defineCommand({
  name: 'list',
  summary: 'list every tenant: id, name, creation time',
  usage: `Usage: ccm tenant list [--json]

Prints every tenant, one a line: id, name and creation time, separated by
tabs; with --json, a JSON array. Needs an administrator API key.

Options:
  --json                  print a JSON array

${CONNECTION_USAGE}
`,
  options: { json: { type: 'boolean' }, ...CONNECTION_OPTIONS },
  async run(values, { env, out }) {
    const tenants = await (await connect(values, env)).listTenants();
    out(values.json ? json(tenants) : tenants.map((tenant) => `${tenant.id}\t${tenant.name}\t${tenant.createdAt}\n`).join(''));
  },
});

const rollOver = defineCommand({
  name: 'roll-over',
  summary: 'give a tenant a new root CA; the old one keeps what it issued valid until it expires',
  usage: `Usage: ccm tenant roll-over --tenant TENANT_ID [--validity-days DAYS] [--staged] [--json]

Rolls the tenant's root CA over: ccm creates a new key in custody, has the
platform CA certify it, and signs every new certificate of the tenant with it
from now on. The old root is retiring: the certificates it issued stay valid,
with their CRL and OCSP, and it stays in the tenant's trust bundle until the
last of them expires. Fetch the trust bundle again (GET .../ca-chain) and give
it to brokers before devices get certificates of the new root, or stage it:
with --staged the new root is only published (trust bundle, CRLs, an
authority.published event) and signs nothing until \`ccm tenant activate-ca\`.
Prints the new root's id, or with --json both roots as JSON.
Needs an administrator API key.

Options:
  --tenant TENANT_ID      the tenant
  --validity-days DAYS    validity of the new root (default: the installation's)
  --staged                publish the new root now, activate it later
  --json                  print the whole answer as JSON

${CONNECTION_USAGE}
`,
  options: { tenant: { type: 'string' }, 'validity-days': { type: 'string' }, staged: { type: 'boolean' }, json: { type: 'boolean' }, ...CONNECTION_OPTIONS },
  async run(values, { env, out }) {
    const tenantId = required(values.tenant, '--tenant');
    const validityDays = positiveInteger(values['validity-days'], '--validity-days');
    const rollover = await (await connect(values, env)).rollOverTenantRoot(tenantId, { ...(validityDays !== undefined ? { validityDays } : {}), ...(values.staged ? { activate: false } : {}) });
    out(values.json ? json(rollover) : `${rollover.rootAuthority.id}\n`);
  },
});

const activateCa = defineCommand({
  name: 'activate-ca',
  summary: 'make the root a staged rollover published sign from now on',
  usage: `Usage: ccm tenant activate-ca --tenant TENANT_ID --authority AUTHORITY_ID [--json]

The second step of \`ccm tenant roll-over --staged\`: the published root becomes
the tenant's active root and the one it replaces is retiring (an
authority.rolled-over event). Run it once the brokers trust the new root.
Prints the new root's id, or with --json both roots as JSON.
Needs an administrator API key.

Options:
  --tenant TENANT_ID      the tenant
  --authority ID          the published root CA
  --json                  print the whole answer as JSON

${CONNECTION_USAGE}
`,
  options: { tenant: { type: 'string' }, authority: { type: 'string' }, json: { type: 'boolean' }, ...CONNECTION_OPTIONS },
  async run(values, { env, out }) {
    const tenantId = required(values.tenant, '--tenant');
    const authorityId = required(values.authority, '--authority');
    const activated = await (await connect(values, env)).activateTenantRoot(tenantId, authorityId);
    out(values.json ? json(activated) : `${activated.rootAuthority.id}\n`);
  },
});

const retireCa = defineCommand({
  name: 'retire-ca',
  summary: 'retire a rolled-over root CA early, revoking what it issued',
  usage: `Usage: ccm tenant retire-ca --tenant TENANT_ID --authority AUTHORITY_ID [--reason REASON] [--json]

Retires a root CA that a rollover replaced before its certificates expire:
it and every certificate it issued are revoked now (one authority.revoked
event, so broker agents drop those devices), and it leaves the trust bundle.
The tenant's active root cannot be retired. Prints the number of certificates
revoked, or with --json the whole answer. Needs an administrator API key.

Options:
  --tenant TENANT_ID      the tenant
  --authority ID          the retiring root CA (see GET /v1/tenants/{id}/authorities)
  --reason REASON         RFC 5280 reason (default superseded): ${REVOKE_REASONS.join(', ')}
  --json                  print the whole answer as JSON

${CONNECTION_USAGE}
`,
  options: { tenant: { type: 'string' }, authority: { type: 'string' }, reason: { type: 'string' }, json: { type: 'boolean' }, ...CONNECTION_OPTIONS },
  async run(values, { env, out }) {
    const tenantId = required(values.tenant, '--tenant');
    const authorityId = required(values.authority, '--authority');
    const reason = oneOf(values.reason, '--reason', REVOKE_REASONS);
    const retired = await (await connect(values, env)).retireTenantRoot(tenantId, authorityId, reason);
    out(values.json ? json(retired) : `${retired.revokedCertificates}\n`);
  },
});

export const TENANT_COMMANDS: CommandGroup = { name: 'tenant', summary: 'create and list tenants, roll their root CAs over', commands: [create, list, rollOver, activateCa, retireCa] };
