/** `ccm tenant create|list`: tenants through the REST API (administrator key). */
import { connect, CONNECTION_OPTIONS, CONNECTION_USAGE, defineCommand, json, positiveInteger, required, type CommandGroup } from './command.js';

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

export const TENANT_COMMANDS: CommandGroup = { name: 'tenant', summary: 'create and list tenants', commands: [create, list] };
