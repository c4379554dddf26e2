/**
 * `ccm certificate issue|show|suspend|reactivate|revoke`: device client
 * certificates of one tenant through the REST API. `issue` writes the
 * certificate, its chain and (when ccm generated it) the private key to files;
 * the key goes to a new file of mode 0600 and never to stdout.
 */
import { constants } from 'node:fs';
import { access, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DEVICE_KEY_ALGORITHMS } from '../codec/key-algorithm.js';
import { REVOKE_REASONS } from '@ccm/event-consumer/contract';
import type { CertificateAnswer, IssueCertificateBody, IssuedCertificateAnswer } from './ccm-api-client.js';
import { connect, CONNECTION_OPTIONS, CONNECTION_USAGE, defineCommand, json, oneOf, positiveInteger, readInputFile, required, type CommandGroup } from './command.js';
import { IssuedButNotWritten, UsageError } from './outcome.js';

const FILES = { certificate: 'certificate.pem', chain: 'chain.pem', key: 'key.pem' } as const;

const issue = defineCommand({
  name: 'issue',
  summary: 'issue a client certificate into a directory (certificate.pem, chain.pem, key.pem)',
  usage: `Usage: ccm certificate issue --tenant TENANT_ID --out DIR
         [--common-name CN] [--ttl SECONDS] [--csr FILE | --key-algorithm ALG]
         [--force] [--json]

Issues a client certificate and writes into DIR (created if missing):
  ${FILES.certificate}         the certificate
  ${FILES.chain}               its issuer chain: tenant root CA, then the platform CA
  ${FILES.key}                 the private key ccm generated (not with --csr): a new
                          file of mode 0600. ccm keeps no copy; it is never printed.
Existing files are not overwritten unless --force is given; this is checked
before anything is issued. Prints the certificate id, or with --json the
certificate's metadata and the paths written.

Options:
  --tenant TENANT_ID      the tenant
  --out DIR               directory to write the files into
  --common-name CN        device identity (default: from the CSR, else a generated UUID)
  --ttl SECONDS           validity, within the tenant's and installation's caps
  --csr FILE              PKCS#10 request in PEM: the device keeps its key
  --key-algorithm ALG     key ccm generates: ${DEVICE_KEY_ALGORITHMS.join(', ')} (default ecdsa-p256)
  --force                 replace existing files in DIR
  --json                  print metadata and file paths as JSON

${CONNECTION_USAGE}
`,
  options: {
    tenant: { type: 'string' },
    out: { type: 'string' },
    'common-name': { type: 'string' },
    ttl: { type: 'string' },
    csr: { type: 'string' },
    'key-algorithm': { type: 'string' },
    force: { type: 'boolean' },
    json: { type: 'boolean' },
    ...CONNECTION_OPTIONS,
  },
  async run(values, { env, out }) {
    const tenantId = required(values.tenant, '--tenant');
    const directory = resolve(required(values.out, '--out'));
    if (values.csr !== undefined && values['key-algorithm'] !== undefined) throw new UsageError('--csr and --key-algorithm exclude each other: with a CSR the device made the key');
    const keyAlgorithm = oneOf(values['key-algorithm'], '--key-algorithm', DEVICE_KEY_ALGORITHMS);
    const ttlSeconds = positiveInteger(values.ttl, '--ttl');
    const csr = values.csr !== undefined ? await readInputFile(values.csr, '--csr') : undefined;
    const force = values.force ?? false;
    const paths = { certificate: resolve(directory, FILES.certificate), chain: resolve(directory, FILES.chain), key: resolve(directory, FILES.key) };
    const client = await connect(values, env);
    await prepareDirectory(directory, csr === undefined ? Object.values(paths) : [paths.certificate, paths.chain], force);

    const body: IssueCertificateBody = {
      ...(values['common-name'] !== undefined ? { commonName: values['common-name'] } : {}),
      ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
      ...(keyAlgorithm !== undefined ? { keyAlgorithm } : {}),
      ...(csr !== undefined ? { csr } : {}),
    };
    const issued = await client.issueCertificate(tenantId, body);
    const written = await writeIssued(issued, paths, force);
    const { privateKeyPem: _key, ...metadata } = issued;
    out(values.json ? json({ ...metadata, files: written }) : `${issued.id}\n`);
  },
});

/** Creates the directory and makes sure issuing will not have to overwrite anything (unless forced) and can write there. */
async function prepareDirectory(directory: string, targets: readonly string[], force: boolean): Promise<void> {
  try {
    await mkdir(directory, { recursive: true, mode: 0o700 });
    await access(directory, constants.W_OK);
  } catch (error) {
    throw new UsageError(`cannot write into --out ${directory}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (force) return;
  const existing: string[] = [];
  for (const target of targets) {
    if (await stat(target).then(() => true, () => false)) existing.push(target);
  }
  if (existing.length > 0) throw new UsageError(`refusing to overwrite ${existing.join(', ')} (use --force to replace)`);
}

/**
 * The key first: it exists nowhere else. Every file is created exclusively
 * (after removing the old one when forced), so the key file cannot be a file
 * someone else opened or pointed a symlink at in the meantime.
 */
async function writeIssued(issued: IssuedCertificateAnswer, paths: { certificate: string; chain: string; key: string }, force: boolean): Promise<{ certificate: string; chain: string; key: string | null }> {
  const files: Array<{ path: string; content: string; mode: number }> = [];
  if (issued.privateKeyPem !== null) files.push({ path: paths.key, content: issued.privateKeyPem, mode: 0o600 });
  files.push({ path: paths.certificate, content: issued.certificatePem, mode: 0o644 }, { path: paths.chain, content: issued.chainPem, mode: 0o644 });
  for (const file of files) {
    try {
      if (force) await rm(file.path, { force: true });
      await writeFile(file.path, file.content, { mode: file.mode, flag: 'wx' });
    } catch (error) {
      const lost = issued.privateKeyPem !== null && file.path === paths.key ? ' Its private key is lost: revoke it.' : '';
      throw new IssuedButNotWritten(`certificate ${issued.id} (serial ${issued.serialNumber}) was issued, but writing ${file.path} failed: ${(error as Error).message}.${lost}`);
    }
  }
  return { certificate: paths.certificate, chain: paths.chain, key: issued.privateKeyPem !== null ? paths.key : null };
}

const TARGET_OPTIONS = { tenant: { type: 'string' }, certificate: { type: 'string' }, json: { type: 'boolean' }, ...CONNECTION_OPTIONS } as const;
const TARGET_USAGE = `Options:
  --tenant TENANT_ID      the tenant
  --certificate ID        the certificate id (as printed by issue)
  --json                  print the certificate's metadata as JSON`;

function stateLine(certificate: CertificateAnswer): string {
  return `${certificate.id}\t${certificate.state}${certificate.revocationReason ? `\t${certificate.revocationReason}` : ''}\n`;
}

const show = defineCommand({
  name: 'show',
  summary: 'print a certificate\'s state and metadata',
  usage: `Usage: ccm certificate show --tenant TENANT_ID --certificate ID [--json]

Prints the certificate's metadata, one "field: value" a line; with --json, as JSON.

${TARGET_USAGE}

${CONNECTION_USAGE}
`,
  options: TARGET_OPTIONS,
  async run(values, { env, out }) {
    const tenantId = required(values.tenant, '--tenant');
    const certificateId = required(values.certificate, '--certificate');
    const certificate = await (await connect(values, env)).certificate(tenantId, certificateId);
    out(values.json ? json(certificate) : Object.entries(certificate).map(([field, value]) => `${field}: ${value ?? ''}\n`).join(''));
  },
});

function stateChange(action: 'suspend' | 'reactivate', aliases: readonly string[], summary: string, description: string) {
  return defineCommand({
    name: action,
    aliases,
    summary,
    usage: `Usage: ccm certificate ${action} --tenant TENANT_ID --certificate ID [--json]

${description}
Prints the certificate id and its new state, separated by a tab.

${TARGET_USAGE}

${CONNECTION_USAGE}
`,
    options: TARGET_OPTIONS,
    async run(values, { env, out }) {
      const tenantId = required(values.tenant, '--tenant');
      const certificateId = required(values.certificate, '--certificate');
      const certificate = await (await connect(values, env)).changeCertificateState(tenantId, certificateId, action);
      out(values.json ? json(certificate) : stateLine(certificate));
    },
  });
}

const suspend = stateChange('suspend', [], 'suspend a certificate until reactivated', 'Suspends the certificate: refused by brokers, and revoked with reason\ncertificateHold in the CRL and OCSP, until it is reactivated.');
const reactivate = stateChange('reactivate', ['resume'], 'lift a suspension (alias: resume)', 'Lifts a suspension: the certificate is accepted again (alias: resume).');

const revoke = defineCommand({
  name: 'revoke',
  summary: 'revoke a certificate for good',
  usage: `Usage: ccm certificate revoke --tenant TENANT_ID --certificate ID [--reason REASON] [--json]

Revokes the certificate for good. Prints the certificate id, its new state and
the reason, separated by tabs.

${TARGET_USAGE}
  --reason REASON         RFC 5280 reason (default unspecified): ${REVOKE_REASONS.join(', ')}

${CONNECTION_USAGE}
`,
  options: { ...TARGET_OPTIONS, reason: { type: 'string' } },
  async run(values, { env, out }) {
    const tenantId = required(values.tenant, '--tenant');
    const certificateId = required(values.certificate, '--certificate');
    const reason = oneOf(values.reason, '--reason', REVOKE_REASONS);
    const certificate = await (await connect(values, env)).changeCertificateState(tenantId, certificateId, 'revoke', reason);
    out(values.json ? json(certificate) : stateLine(certificate));
  },
});

export const CERTIFICATE_COMMANDS: CommandGroup = {
  name: 'certificate',
  summary: 'issue client certificates to files; show, suspend, reactivate, revoke them',
  commands: [issue, show, suspend, reactivate, revoke],
};
