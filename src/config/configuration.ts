/**
 * Configuration: every setting ccm reads, parsed and validated once at
 * start-up into a typed, frozen object. A bad or missing setting stops the
 * service with a message naming the variable. `CONFIGURATION_REFERENCE` is the
 * single list of variables: the README's reference and the deployment checks
 * are held against it.
 */
import { DEVICE_KEY_ALGORITHMS, KEY_ALGORITHMS, type DeviceKeyAlgorithm, type KeyAlgorithm } from '../codec/key-algorithm.js';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { EnvironmentReader, type Environment } from '@ccm/configuration';

export interface VariableReference {
  readonly name: string;
  readonly default: string | null;
  readonly description: string;
}

export const CONFIGURATION_REFERENCE: readonly VariableReference[] = [
  { name: 'CCM_HOST', default: '127.0.0.1', description: 'Address the HTTP server binds to (0.0.0.0 in containers).' },
  { name: 'CCM_PORT', default: '8080', description: 'TCP port of the HTTP server.' },
  { name: 'CCM_PUBLIC_URL', default: 'http://<CCM_HOST>:<CCM_PORT>', description: 'Base URL under which clients reach ccm. Written into every certificate (CRL distribution point), so keep it stable: a changed URL leaves older certificates pointing at the old one.' },
  { name: 'CCM_TLS_CERT_FILE', default: null, description: 'PEM certificate chain of ccm\'s own HTTPS server. With CCM_TLS_KEY_FILE, ccm serves HTTPS and asks clients for a certificate (optional), which EST re-enrollment needs. Unset: plain HTTP, for a TLS-terminating proxy in front.' },
  { name: 'CCM_TLS_KEY_FILE', default: null, description: 'PEM private key of that certificate.' },
  { name: 'CCM_WORKERS', default: '1', description: 'HTTP worker processes sharing the port (node:cluster), each a full replica; "auto": one per CPU core. Issuance and authentication are CPU-bound, so one worker uses one core. Caches, rate limits and the API key cache are per worker.' },
  { name: 'CCM_BODY_LIMIT_BYTES', default: '65536', description: 'Largest request body accepted; larger bodies get 413.' },
  { name: 'CCM_SHUTDOWN_GRACE_MS', default: '10000', description: 'On SIGTERM or SIGINT, how long requests already in flight may take to finish, in milliseconds; connections still busy then are closed. New connections are refused at once. Keep it a few seconds below the orchestrator\'s kill timeout (Kubernetes terminationGracePeriodSeconds, 30 s by default), which must also cover the event relay\'s last batch and the audit log flush.' },
  { name: 'CCM_MAX_HEADER_BYTES', default: '16384', description: 'Largest request head (request line and headers) accepted, in bytes; Node.js answers a larger one with 431 before ccm sees it.' },
  { name: 'CCM_CORS_ORIGINS', default: null, description: 'Comma-separated origins (https://console.example.com) whose pages may call the API from a browser, e.g. to post a CSR made with a key generated in the browser. Exact origins only; "*" is refused. Unset: no CORS headers at all.' },
  { name: 'CCM_RATE_LIMIT_ISSUANCE_PER_SECOND', default: '100', description: 'Certificates one credential may have issued per second (POST certificates, renew, EST enroll and re-enroll), counted per replica; over it, 429 with Retry-After. 0: no limit.' },
  { name: 'CCM_RATE_LIMIT_ISSUANCE_BURST', default: '200', description: 'Issuance requests one credential may make at once before the per-second rate applies.' },
  { name: 'CCM_RATE_LIMIT_AUTHENTICATION_PER_SECOND', default: '2000', description: 'POST /v1/authentications calls one credential may make per second, counted per replica; over it, 429 with Retry-After. 0: no limit.' },
  { name: 'CCM_RATE_LIMIT_AUTHENTICATION_BURST', default: '4000', description: 'Authentication calls one credential may make at once before the per-second rate applies.' },
  { name: 'CCM_ADMIN_API_KEY', default: null, description: 'Bootstrap administrator API key (at least 32 characters), presented as Authorization: Bearer <key>. Use it to create the other keys (POST /v1/api-credentials). When unset, ccm generates one into CCM_ADMIN_API_KEY_FILE.' },
  { name: 'CCM_ADMIN_API_KEY_FILE', default: './data/admin-api-key', description: 'Where ccm keeps the generated bootstrap administrator key when CCM_ADMIN_API_KEY is unset: created on first start with mode 0600, refused when others can read it.' },
  { name: 'CCM_METRICS_PORT', default: null, description: 'TCP port of a separate plain-HTTP listener that serves Prometheus metrics at /metrics, without authentication (keep it on a scrape network). Unset: no metrics listener.' },
  { name: 'CCM_METRICS_HOST', default: '127.0.0.1', description: 'Address the metrics listener binds to (0.0.0.0 for a scraper in another container or pod).' },
  { name: 'CCM_LOG_LEVEL', default: 'log', description: 'One of error, warn, log, debug, verbose (pino\'s info and trace). Logs are JSON lines on stdout; log and below include one line per request.' },
  { name: 'DATABASE_URL', default: null, description: 'PostgreSQL URL (postgres://user:pass@host:5432/db). When unset, the embedded SQLite file is used.' },
  { name: 'CCM_SQLITE_PATH', default: './data/ccm.sqlite', description: 'SQLite database file, used when DATABASE_URL is unset.' },
  { name: 'CCM_CUSTODY', default: 'local', description: 'Where CA keys live: "vault" (HashiCorp Vault Transit) or "local" (development only).' },
  { name: 'CCM_LOCAL_KEY_DIR', default: './data/keys', description: 'local custody: directory of encrypted key files.' },
  { name: 'CCM_LOCAL_KEK', default: null, description: 'local custody: key-encryption key, 32 bytes in base64. Takes precedence over CCM_LOCAL_KEK_FILE.' },
  { name: 'CCM_LOCAL_KEK_FILE', default: '<CCM_LOCAL_KEY_DIR>/kek', description: 'local custody: file holding the key-encryption key (base64); must be mode 0600. Created when absent and CCM_LOCAL_KEK is unset.' },
  { name: 'CCM_VAULT_ADDR', default: null, description: 'vault custody: Vault address, e.g. https://vault:8200. Required when CCM_CUSTODY=vault.' },
  { name: 'CCM_VAULT_AUTH', default: 'token', description: 'vault custody: "token", "approle" or "kubernetes" (a pod\'s service account token, Vault\'s Kubernetes auth method).' },
  { name: 'CCM_VAULT_TOKEN', default: null, description: 'vault custody: token, required when CCM_VAULT_AUTH=token.' },
  { name: 'CCM_VAULT_ROLE_ID', default: null, description: 'vault custody: AppRole role_id, required when CCM_VAULT_AUTH=approle.' },
  { name: 'CCM_VAULT_SECRET_ID', default: null, description: 'vault custody: AppRole secret_id, required when CCM_VAULT_AUTH=approle.' },
  { name: 'CCM_VAULT_APPROLE_MOUNT', default: 'approle', description: 'vault custody: mount path of the AppRole auth method.' },
  { name: 'CCM_VAULT_KUBERNETES_ROLE', default: null, description: 'vault custody: Vault role to log in as, required when CCM_VAULT_AUTH=kubernetes.' },
  { name: 'CCM_VAULT_KUBERNETES_MOUNT', default: 'kubernetes', description: 'vault custody: mount path of the Kubernetes auth method.' },
  { name: 'CCM_VAULT_KUBERNETES_TOKEN_FILE', default: '/var/run/secrets/kubernetes.io/serviceaccount/token', description: 'vault custody: file holding the pod\'s service account token (JWT); read again at every login, since Kubernetes rotates projected tokens.' },
  { name: 'CCM_VAULT_TRANSIT_MOUNT', default: 'transit', description: 'vault custody: mount path of the Transit secrets engine.' },
  { name: 'CCM_VAULT_KEY_PREFIX', default: 'ccm-', description: 'vault custody: prefix of every Transit key ccm creates (the Vault policy grants this prefix only).' },
  { name: 'CCM_VAULT_CACERT', default: null, description: 'vault custody: PEM file of the CA that signed Vault\'s TLS certificate.' },
  { name: 'CCM_VAULT_TIMEOUT_MS', default: '5000', description: 'vault custody: timeout of one Vault request, in milliseconds.' },
  { name: 'CCM_VAULT_SIGN_BATCH_SIZE', default: '64', description: 'vault custody: most signatures sent to Vault in one Transit request (batch_input) when several are asked for at once with the same key; 1 sends each signature alone.' },
  { name: 'CCM_VAULT_SIGN_BATCH_WAIT_MS', default: '0', description: 'vault custody: how long a signature with no others waiting may wait for company before it is sent alone, in milliseconds. 0: it is sent at once; batches still form while earlier requests are out.' },
  { name: 'CCM_PLATFORM_CA_MODE', default: 'self-signed', description: '"self-signed": the platform CA signs itself on first start. "external": ccm creates the key and waits for a certificate signed by your offline root (see /v1/platform-ca/csr).' },
  { name: 'CCM_PLATFORM_CA_SUBJECT', default: 'CN=ccm platform CA', description: 'Subject of the platform CA in RFC 4514 order, most specific first, as ccm prints subjects: comma-separated ATTR=value pairs (CN, O, OU, C, L, ST), e.g. CN=Acme platform CA,O=Acme,C=DE.' },
  { name: 'CCM_PLATFORM_CA_KEY_ALGORITHM', default: 'ecdsa-p256', description: `Platform CA key: one of ${KEY_ALGORITHMS.join(', ')}.` },
  { name: 'CCM_PLATFORM_CA_VALIDITY_DAYS', default: '7300', description: 'Validity of a self-signed platform CA certificate, in days.' },
  { name: 'CCM_TENANT_CA_KEY_ALGORITHM', default: 'ecdsa-p256', description: `Tenant root CA key: one of ${KEY_ALGORITHMS.join(', ')}.` },
  { name: 'CCM_TENANT_CA_VALIDITY_DAYS', default: '3650', description: 'Validity of a tenant root CA certificate, in days (capped by the platform CA\'s notAfter).' },
  { name: 'CCM_CLIENT_CERT_DEFAULT_TTL_SECONDS', default: '31536000', description: 'Validity of a client certificate when the request names no TTL, in seconds (365 days).' },
  { name: 'CCM_CLIENT_CERT_MAX_TTL_SECONDS', default: '63072000', description: 'Longest client certificate validity a request may ask for, in seconds (730 days); a tenant may set a lower cap.' },
  { name: 'CCM_CLIENT_CERT_BACKDATE_SECONDS', default: '60', description: 'notBefore is set this far in the past to absorb device clock skew (RFC 5280 §4.1.2.5 allows any notBefore).' },
  { name: 'CCM_CLIENT_CERTIFICATE_ID_URI', default: 'on', description: '"on": every client certificate ccm issues carries one URI subject alternative name, urn:uuid:<certificate id> (RFC 4122 URN of its record), so a broker that maps certificates by URI SAN (nats-server verify_and_map) finds its user by one exact lookup, and two certificates of one subject are told apart. "off": no subjectAltName extension. Affects new certificates only.' },
  { name: 'CCM_EXTERNAL_DEVICE_KEY_POLICY', default: 'enforce', description: 'Device certificates of a tenant\'s external CAs and delegated intermediates (which ccm did not issue) are held, on their first authentication, to the two minimums below; DSA, key-agreement-only and unknown key types are refused (403 certificate-weak-key). "off": any key the CA signed is accepted.' },
  { name: 'CCM_EXTERNAL_DEVICE_MIN_RSA_BITS', default: '2048', description: 'Least RSA modulus of such a device key, in bits (NIST SP 800-131A: 2048 for 112-bit security); its exponent must also be odd and above 65536 (FIPS 186-5 §5.4).' },
  { name: 'CCM_EXTERNAL_DEVICE_MIN_EC_BITS', default: '256', description: 'Least elliptic curve size of such a device key, in bits: 256 refuses P-192 and P-224 and takes P-256, P-384, P-521, secp256k1 and brainpool 256-512. Ed25519 counts as 256, Ed448 as 448; a curve ccm does not know, or explicit curve parameters, is refused.' },
  { name: 'CCM_REDIS_URL', default: null, description: 'Redis URL (redis://host:6379/0). When set, outbox events are published to each subscriber\'s BullMQ queue; when unset, they are read from GET /v1/events.' },
  { name: 'CCM_RELAY_POLL_MS', default: '1000', description: 'How often the outbox relay, and a feed read waiting for an event (GET /v1/events?waitMs=), look for events committed by other replicas. This process\'s own are seen at once, and on PostgreSQL so are other replicas\' (LISTEN/NOTIFY); the poll covers SQLite and a lost notification connection.' },
  { name: 'CCM_CRL_VALIDITY_SECONDS', default: '86400', description: 'nextUpdate − thisUpdate of the CRLs ccm signs; a CRL is re-signed once half of it has passed, or at once after a change.' },
  { name: 'CCM_CRL_SHARD_DAYS', default: '0', description: 'Partition each CA\'s CRL by certificate expiry into shards this many days wide, so no CRL grows without bound: each certificate\'s CRL distribution point names its shard. 0: one CRL per CA. Changing it affects new certificates only.' },
  { name: 'CCM_OCSP_RESPONDER', default: 'ca', description: 'Who signs OCSP responses: "ca" (each tenant CA, through custody) or "delegated" (a 30-day responder certificate per CA with id-kp-OCSPSigning, its key in custody, renewed automatically).' },
];

export type LogLevel = 'error' | 'warn' | 'log' | 'debug' | 'verbose';

export type DatabaseConfiguration =
  | { readonly kind: 'postgres'; readonly url: string }
  | { readonly kind: 'sqlite'; readonly path: string };

export type CustodyConfiguration =
  | { readonly kind: 'local'; readonly keyDirectory: string; readonly kek: { readonly source: 'env'; readonly key: Buffer } | { readonly source: 'file'; readonly path: string } }
  | {
      readonly kind: 'vault';
      readonly address: string;
      readonly auth:
        | { readonly method: 'token'; readonly token: string }
        | { readonly method: 'approle'; readonly roleId: string; readonly secretId: string; readonly mountPath: string }
        | { readonly method: 'kubernetes'; readonly role: string; readonly mountPath: string; readonly jwtFile: string };
      readonly transitMount: string;
      readonly keyPrefix: string;
      readonly caCertPath: string | null;
      readonly requestTimeoutMs: number;
      /** Most signatures in one Transit `batch_input` request; 1: no batching. */
      readonly signBatchSize: number;
      /** Milliseconds a lone signature waits for company; 0: none. */
      readonly signBatchWaitMs: number;
    };

export interface Configuration {
  readonly http: {
    readonly host: string;
    readonly port: number;
    readonly publicUrl: string;
    readonly bodyLimitBytes: number;
    readonly maxHeaderBytes: number;
    /** Exact origins allowed by CORS; empty: CORS off. */
    readonly corsOrigins: readonly string[];
    readonly tls: { readonly certFile: string; readonly keyFile: string } | null;
    /** Worker processes serving the port (1: this process serves it). */
    readonly workers: number;
    /** How long in-flight requests may run on after a stop signal (src/orderly-stop.ts). */
    readonly shutdownGraceMs: number;
  };
  /** The Prometheus listener; null: none. */
  readonly metrics: { readonly host: string; readonly port: number } | null;
  /** Per credential and per replica (src/access/rate-limits.ts). */
  readonly rateLimits: { readonly issuance: RateLimitSetting; readonly authentication: RateLimitSetting };
  readonly logLevel: LogLevel;
  readonly access: { readonly adminApiKey: string | null; readonly adminApiKeyFile: string };
  readonly database: DatabaseConfiguration;
  readonly custody: CustodyConfiguration;
  readonly platformCa: {
    readonly mode: 'self-signed' | 'external';
    readonly subject: SubjectSetting;
    readonly keyAlgorithm: KeyAlgorithm;
    readonly validityDays: number;
  };
  readonly tenantCa: { readonly keyAlgorithm: KeyAlgorithm; readonly validityDays: number };
  readonly clientCertificates: {
    readonly defaultTtlSeconds: number;
    readonly maxTtlSeconds: number;
    readonly backdateSeconds: number;
    readonly keyAlgorithms: readonly DeviceKeyAlgorithm[];
    /** Each certificate carries urn:uuid:<its record id> as its one subjectAltName (RFC 5280 §4.2.1.6 uniformResourceIdentifier). */
    readonly idUri: boolean;
  };
  /** Held against device certificates of the tenants' own CAs when ccm first sees them (src/device-authentication/device-certificate-policy.ts). */
  readonly externalDeviceKeys: ExternalDeviceKeyPolicy;
  readonly events: { readonly redisUrl: string | null; readonly relayPollMs: number };
  readonly revocation: { readonly crlValiditySeconds: number; readonly crlShardDays: number; readonly ocspResponder: 'ca' | 'delegated' };
}

/** The least device key a tenant's own CA may vouch for (CCM_EXTERNAL_DEVICE_KEY_POLICY, CCM_EXTERNAL_DEVICE_MIN_RSA_BITS, CCM_EXTERNAL_DEVICE_MIN_EC_BITS). */
export interface ExternalDeviceKeyPolicy {
  /** false: any key the CA vouched for is accepted, as ccm did before it judged them. */
  readonly enforce: boolean;
  /** Least RSA modulus, in bits. */
  readonly minimumRsaBits: number;
  /** Least elliptic curve, in bits of its size (P-256: 256; Ed25519 counts as 256, Ed448 as 448). */
  readonly minimumCurveBits: number;
}

/** A token bucket: `burst` requests at once, refilled at `perSecond`; perSecond 0: no limit. */
export interface RateLimitSetting {
  readonly perSecond: number;
  readonly burst: number;
}

export type SubjectAttribute = 'CN' | 'O' | 'OU' | 'C' | 'L' | 'ST';
export type SubjectSetting = ReadonlyArray<{ readonly attribute: SubjectAttribute; readonly value: string }>;

export class ConfigurationError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigurationError';
  }
}

export function parseConfiguration(env: Environment = process.env): Configuration {
  const read = new EnvironmentReader(env);

  const host = read.string('CCM_HOST', '127.0.0.1');
  const port = read.integer('CCM_PORT', 8080, 0, 65535);
  const tls = parseTls(read);
  const publicUrl = read.url('CCM_PUBLIC_URL', read.string('CCM_PUBLIC_URL', `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`), ['http:', 'https:']).replace(/\/+$/, '');
  const workers = read.optional('CCM_WORKERS') === 'auto' ? availableParallelism() : read.integer('CCM_WORKERS', 1, 1, 64);
  const bodyLimitBytes = read.integer('CCM_BODY_LIMIT_BYTES', 65536, 1024, 16 * 1024 * 1024);
  const maxHeaderBytes = read.integer('CCM_MAX_HEADER_BYTES', 16384, 1024, 1024 * 1024);
  const shutdownGraceMs = read.integer('CCM_SHUTDOWN_GRACE_MS', 10000, 0, 600_000);
  const corsOrigins = parseCorsOrigins(read);
  const rateLimits = {
    issuance: Object.freeze({ perSecond: read.integer('CCM_RATE_LIMIT_ISSUANCE_PER_SECOND', 100, 0, 1_000_000), burst: read.integer('CCM_RATE_LIMIT_ISSUANCE_BURST', 200, 1, 1_000_000) }),
    authentication: Object.freeze({ perSecond: read.integer('CCM_RATE_LIMIT_AUTHENTICATION_PER_SECOND', 2000, 0, 1_000_000), burst: read.integer('CCM_RATE_LIMIT_AUTHENTICATION_BURST', 4000, 1, 1_000_000) }),
  };
  const metricsPort = read.optional('CCM_METRICS_PORT') === undefined ? null : read.integer('CCM_METRICS_PORT', 0, 0, 65535);
  const metrics = metricsPort === null ? null : Object.freeze({ host: read.string('CCM_METRICS_HOST', '127.0.0.1'), port: metricsPort });
  const logLevel = read.oneOf<LogLevel>('CCM_LOG_LEVEL', ['error', 'warn', 'log', 'debug', 'verbose'], 'log');

  const adminApiKey = read.optional('CCM_ADMIN_API_KEY') ?? null;
  if (adminApiKey !== null && (adminApiKey.length < 32 || /\s/.test(adminApiKey))) read.problems.push('CCM_ADMIN_API_KEY must be at least 32 characters without spaces');
  const access = { adminApiKey, adminApiKeyFile: read.string('CCM_ADMIN_API_KEY_FILE', './data/admin-api-key') };

  const databaseUrl = read.optional('DATABASE_URL');
  const database: DatabaseConfiguration = databaseUrl
    ? { kind: 'postgres', url: read.url('DATABASE_URL', databaseUrl, ['postgres:', 'postgresql:']) }
    : { kind: 'sqlite', path: read.string('CCM_SQLITE_PATH', './data/ccm.sqlite') };

  const custody = parseCustody(read);

  const platformCa = {
    mode: read.oneOf('CCM_PLATFORM_CA_MODE', ['self-signed', 'external'] as const, 'self-signed'),
    subject: parseSubjectSetting(read, 'CCM_PLATFORM_CA_SUBJECT', read.string('CCM_PLATFORM_CA_SUBJECT', 'CN=ccm platform CA')),
    keyAlgorithm: read.oneOf<KeyAlgorithm>('CCM_PLATFORM_CA_KEY_ALGORITHM', KEY_ALGORITHMS, 'ecdsa-p256'),
    validityDays: read.integer('CCM_PLATFORM_CA_VALIDITY_DAYS', 7300, 1, 36500),
  };
  const tenantCa = {
    keyAlgorithm: read.oneOf<KeyAlgorithm>('CCM_TENANT_CA_KEY_ALGORITHM', KEY_ALGORITHMS, 'ecdsa-p256'),
    validityDays: read.integer('CCM_TENANT_CA_VALIDITY_DAYS', 3650, 1, 36500),
  };
  const maxTtlSeconds = read.integer('CCM_CLIENT_CERT_MAX_TTL_SECONDS', 63072000, 60, 100 * 365 * 86400);
  const defaultTtlSeconds = read.integer('CCM_CLIENT_CERT_DEFAULT_TTL_SECONDS', 31536000, 60, 100 * 365 * 86400);
  if (defaultTtlSeconds > maxTtlSeconds) {
    read.problems.push(`CCM_CLIENT_CERT_DEFAULT_TTL_SECONDS (${defaultTtlSeconds}) must not exceed CCM_CLIENT_CERT_MAX_TTL_SECONDS (${maxTtlSeconds})`);
  }
  const clientCertificates = {
    defaultTtlSeconds,
    maxTtlSeconds,
    backdateSeconds: read.integer('CCM_CLIENT_CERT_BACKDATE_SECONDS', 60, 0, 86400),
    keyAlgorithms: DEVICE_KEY_ALGORITHMS,
    idUri: read.oneOf('CCM_CLIENT_CERTIFICATE_ID_URI', ['on', 'off'] as const, 'on') === 'on',
  };

  const externalDeviceKeys = {
    enforce: read.oneOf('CCM_EXTERNAL_DEVICE_KEY_POLICY', ['enforce', 'off'] as const, 'enforce') === 'enforce',
    // Below 1024 bits is not a minimum anyone should hold a fleet to; such a fleet needs the policy off. 16384: OpenSSL's largest.
    minimumRsaBits: read.integer('CCM_EXTERNAL_DEVICE_MIN_RSA_BITS', 2048, 1024, 16384),
    // From the smallest named curves in use (160-bit brainpool) to the largest (571-bit binary curves).
    minimumCurveBits: read.integer('CCM_EXTERNAL_DEVICE_MIN_EC_BITS', 256, 160, 571),
  };

  const redisUrl = read.optional('CCM_REDIS_URL');
  const events = {
    redisUrl: redisUrl === undefined ? null : read.url('CCM_REDIS_URL', redisUrl, ['redis:', 'rediss:']),
    relayPollMs: read.integer('CCM_RELAY_POLL_MS', 1000, 10, 60000),
  };
  const revocation = {
    crlValiditySeconds: read.integer('CCM_CRL_VALIDITY_SECONDS', 86400, 300, 30 * 86400),
    crlShardDays: read.integer('CCM_CRL_SHARD_DAYS', 0, 0, 3650),
    ocspResponder: read.oneOf('CCM_OCSP_RESPONDER', ['ca', 'delegated'] as const, 'ca'),
  };

  if (read.problems.length > 0) throw new ConfigurationError(read.problems);
  return Object.freeze({
    http: Object.freeze({ host, port, publicUrl, bodyLimitBytes, maxHeaderBytes, corsOrigins, tls, workers, shutdownGraceMs }),
    rateLimits: Object.freeze(rateLimits),
    metrics,
    logLevel,
    access: Object.freeze(access),
    database: Object.freeze(database),
    custody: Object.freeze(custody),
    platformCa: Object.freeze(platformCa),
    tenantCa: Object.freeze(tenantCa),
    clientCertificates: Object.freeze(clientCertificates),
    externalDeviceKeys: Object.freeze(externalDeviceKeys),
    events: Object.freeze(events),
    revocation: Object.freeze(revocation),
  });
}

/**
 * Browser origins as the Origin header carries them (scheme://host[:port]).
 * "*" is refused: the API takes bearer keys, and a key pasted into any page
 * on the web should not be usable from it.
 */
function parseCorsOrigins(read: EnvironmentReader): readonly string[] {
  const raw = read.optional('CCM_CORS_ORIGINS');
  if (raw === undefined) return Object.freeze([]);
  const origins = raw.split(',').map((origin) => origin.trim()).filter((origin) => origin !== '');
  for (const origin of origins) {
    if (origin === '*') {
      read.problems.push('CCM_CORS_ORIGINS must name origins; "*" is not allowed because the API takes bearer keys');
      continue;
    }
    let canonical: string | null = null;
    try {
      const url = new URL(origin);
      if (url.protocol === 'http:' || url.protocol === 'https:') canonical = url.origin;
    } catch {
      canonical = null;
    }
    // Browsers send the origin in its serialized form (lower-case host, no default port, no path): only that form can ever match.
    if (canonical !== origin) read.problems.push(`CCM_CORS_ORIGINS: "${origin}" is not an origin like https://console.example.com (scheme, host and port only${canonical ? `; did you mean ${canonical}?` : ''})`);
  }
  return Object.freeze([...new Set(origins)]);
}

function parseTls(read: EnvironmentReader): { certFile: string; keyFile: string } | null {
  const certFile = read.optional('CCM_TLS_CERT_FILE');
  const keyFile = read.optional('CCM_TLS_KEY_FILE');
  if (certFile === undefined && keyFile === undefined) return null;
  if (certFile === undefined || keyFile === undefined) {
    read.problems.push('CCM_TLS_CERT_FILE and CCM_TLS_KEY_FILE go together');
    return null;
  }
  for (const [name, path] of [['CCM_TLS_CERT_FILE', certFile], ['CCM_TLS_KEY_FILE', keyFile]] as const) {
    if (!existsSync(path)) read.problems.push(`${name}: no file at ${path}`);
  }
  return { certFile, keyFile };
}

function parseCustody(read: EnvironmentReader): CustodyConfiguration {
  const kind = read.oneOf('CCM_CUSTODY', ['local', 'vault'] as const, 'local');
  if (kind === 'local') {
    const keyDirectory = read.string('CCM_LOCAL_KEY_DIR', './data/keys');
    const inline = read.optional('CCM_LOCAL_KEK');
    if (inline !== undefined) {
      const key = Buffer.from(inline, 'base64');
      if (key.length !== 32 || key.toString('base64') !== inline) {
        read.problems.push('CCM_LOCAL_KEK must be exactly 32 bytes in standard base64');
      }
      return { kind, keyDirectory, kek: { source: 'env', key } };
    }
    return { kind, keyDirectory, kek: { source: 'file', path: read.string('CCM_LOCAL_KEK_FILE', `${keyDirectory}/kek`) } };
  }
  const why = 'when CCM_CUSTODY=vault';
  const address = read.url('CCM_VAULT_ADDR', read.required('CCM_VAULT_ADDR', why), ['http:', 'https:']);
  const method = read.oneOf('CCM_VAULT_AUTH', ['token', 'approle', 'kubernetes'] as const, 'token');
  const auth =
    method === 'token'
      ? { method, token: read.required('CCM_VAULT_TOKEN', 'when CCM_VAULT_AUTH=token') }
      : method === 'approle'
        ? {
            method,
            roleId: read.required('CCM_VAULT_ROLE_ID', 'when CCM_VAULT_AUTH=approle'),
            secretId: read.required('CCM_VAULT_SECRET_ID', 'when CCM_VAULT_AUTH=approle'),
            mountPath: read.string('CCM_VAULT_APPROLE_MOUNT', 'approle'),
          }
        : {
            method,
            role: read.required('CCM_VAULT_KUBERNETES_ROLE', 'when CCM_VAULT_AUTH=kubernetes'),
            mountPath: read.string('CCM_VAULT_KUBERNETES_MOUNT', 'kubernetes'),
            jwtFile: read.string('CCM_VAULT_KUBERNETES_TOKEN_FILE', '/var/run/secrets/kubernetes.io/serviceaccount/token'),
          };
  const keyPrefix = read.string('CCM_VAULT_KEY_PREFIX', 'ccm-');
  if (!/^[\w][\w.-]*$/.test(keyPrefix)) read.problems.push('CCM_VAULT_KEY_PREFIX may hold only letters, digits, "_", "-" and "." and must start with a letter, digit or "_"');
  return {
    kind,
    address: address.replace(/\/+$/, ''),
    auth,
    transitMount: read.string('CCM_VAULT_TRANSIT_MOUNT', 'transit'),
    keyPrefix,
    caCertPath: read.optional('CCM_VAULT_CACERT') ?? null,
    requestTimeoutMs: read.integer('CCM_VAULT_TIMEOUT_MS', 5000, 100, 120000),
    signBatchSize: read.integer('CCM_VAULT_SIGN_BATCH_SIZE', 64, 1, 1000),
    signBatchWaitMs: read.integer('CCM_VAULT_SIGN_BATCH_WAIT_MS', 0, 0, 1000),
  };
}

/** "CN=ccm platform CA,O=Example" → ordered attributes; "\," escapes a comma inside a value. */
function parseSubjectSetting(read: EnvironmentReader, name: string, text: string): SubjectSetting {
  const attributes: { attribute: SubjectAttribute; value: string }[] = [];
  for (const part of text.split(/(?<!\\),/)) {
    const match = /^\s*(CN|O|OU|C|L|ST)\s*=\s*(.+?)\s*$/.exec(part);
    if (!match) {
      read.problems.push(`${name} must be comma-separated ATTR=value pairs with ATTR one of CN, O, OU, C, L, ST; cannot read "${part}"`);
      return attributes;
    }
    const value = match[2]!.replace(/\\,/g, ',');
    if ([...value].length > 64 || (match[1] === 'C' && !/^[A-Z]{2}$/.test(value))) {
      read.problems.push(`${name}: ${match[1]} must be at most 64 characters (C: two capital letters)`);
    }
    attributes.push({ attribute: match[1] as SubjectAttribute, value });
  }
  if (!attributes.some((a) => a.attribute === 'CN')) read.problems.push(`${name} must contain a CN`);
  // Written most specific first (RFC 4514, as ccm prints subjects); encoded in X.500 order, most general first.
  return attributes.reverse();
}
