/**
 * `ccm platform-ca show|csr|import`: the platform CA through the REST API,
 * chiefly the offline-root flow of CCM_PLATFORM_CA_MODE=external: print the
 * CSR for the offline root to sign, then import the certificate it signed.
 */
import type { AuthorityAnswer } from './ccm-api-client.js';
import { connect, CONNECTION_OPTIONS, CONNECTION_USAGE, defineCommand, json, readInputFile, required, type CommandGroup } from './command.js';

function summaryLines(authority: AuthorityAnswer): string {
  const fields = ['id', 'status', 'subject', 'keyAlgorithm', 'serialNumber', 'fingerprintSha256', 'notBefore', 'notAfter'];
  return fields.map((field) => `${field}: ${authority[field] ?? ''}\n`).join('');
}

const show = defineCommand({
  name: 'show',
  summary: 'print the platform CA\'s status (pending until its certificate is imported)',
  usage: `Usage: ccm platform-ca show [--json]

Prints the platform CA: id, status (pending, active…), subject, key algorithm,
serial number, fingerprint and validity, one "field: value" a line; with
--json, the whole answer including the certificate PEM.

Options:
  --json                  print the whole answer as JSON

${CONNECTION_USAGE}
`,
  options: { json: { type: 'boolean' }, ...CONNECTION_OPTIONS },
  async run(values, { env, out }) {
    const platform = await (await connect(values, env)).platformCa();
    out(values.json ? json(platform) : summaryLines(platform));
  },
});

const csr = defineCommand({
  name: 'csr',
  summary: 'print the PKCS#10 request of the platform CA key, for the offline root to sign',
  usage: `Usage: ccm platform-ca csr > platform.csr

Prints the PKCS#10 certification request for the platform CA key (PEM), for
your offline root to sign as a CA certificate (CA:TRUE, keyCertSign). Then
import the result with \`ccm platform-ca import\`.

${CONNECTION_USAGE}
`,
  options: { ...CONNECTION_OPTIONS },
  async run(values, { env, out }) {
    const pem = await (await connect(values, env)).platformCaCsr();
    out(pem.endsWith('\n') ? pem : `${pem}\n`);
  },
});

const importCertificate = defineCommand({
  name: 'import',
  summary: 'import the platform CA certificate signed by the offline root',
  usage: `Usage: ccm platform-ca import --certificate FILE [--chain FILE] [--json]

Imports the platform CA certificate your offline root signed. ccm checks that
it certifies the platform key and is a CA; the chains it hands out then end
with the certificates of --chain. Prints the platform CA as \`show\` does.

Options:
  --certificate FILE      the signed platform CA certificate, PEM
  --chain FILE            the certificates above it, issuer first, up to the offline root, PEM
  --json                  print the whole answer as JSON

${CONNECTION_USAGE}
`,
  options: { certificate: { type: 'string' }, chain: { type: 'string' }, json: { type: 'boolean' }, ...CONNECTION_OPTIONS },
  async run(values, { env, out }) {
    const certificatePem = await readInputFile(required(values.certificate, '--certificate'), '--certificate');
    const chainPem = values.chain !== undefined ? await readInputFile(values.chain, '--chain') : undefined;
    const platform = await (await connect(values, env)).importPlatformCaCertificate(certificatePem, chainPem);
    out(values.json ? json(platform) : summaryLines(platform));
  },
});

export const PLATFORM_CA_COMMANDS: CommandGroup = {
  name: 'platform-ca',
  summary: 'the platform CA: status, CSR for an offline root, import of its signed certificate',
  commands: [show, csr, importCertificate],
};
