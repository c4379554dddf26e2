/**
 * Test support: an in-process HTTP server that answers like HashiCorp Vault
 * for the subset ccm relies on (shared/vault/transit-api.md): the HTTP layer
 * (envelopes, status mapping, token checks, LIST-as-GET), sys/health,
 * sys/mounts, AppRole login and the Transit key, export, sign and verify
 * endpoints. No real Vault can run on the development machines, so this file
 * is what the `vault` custody adapter is tested against; where it departs from
 * Vault it says so in a comment and answers with an explicit error, never with
 * a made-up success.
 *
 * Beyond the fact sheet, for the adapter's token upkeep: Kubernetes login
 * (`auth/<mount>/login` with role and jwt), `auth/token/lookup-self` and
 * `auth/token/renew-self`, with Vault's TTL, max TTL, period and renewable
 * rules. Their shapes come from Vault's API documentation
 * (website/content/api-docs/auth/token.mdx, api-docs/auth/kubernetes.mdx) and
 * source: vault/token_store.go (handleLookup, handleRenew, authRenew),
 * vault/expiration.go (RenewToken, leaseEntry.renewable), sdk/framework/
 * lease.go (CalculateTTL) and vault-plugin-auth-kubernetes path_login.go.
 * The Kubernetes side is simplified: a role accepts the JWTs a test gave it
 * (what Kubernetes' TokenReview would confirm), nothing is parsed out of them.
 *
 * Keys are generated with node:crypto and live in memory only. Test hooks
 * (seal, tokens, AppRole and Kubernetes roles, counters, latency, injected
 * errors) are public members of `TransitServer`.
 */
import {
  constants as cryptoConstants,
  createECDH,
  createHash,
  createPublicKey,
  generateKeyPair,
  privateEncrypt,
  publicDecrypt,
  randomBytes,
  randomUUID,
  sign as cryptoSign,
  timingSafeEqual,
  verify as cryptoVerify,
  type KeyObject,
} from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { promisify } from 'node:util';

const generateKeyPairAsync = promisify(generateKeyPair);

// ---------------------------------------------------------------------------
// Public test-hook types

export interface TransitServerOptions {
  /** Token that may do everything; a random `hvs.` token when omitted. */
  readonly rootToken?: string;
  /** Transit engines mounted at start (default `['transit']`); `[]` to test `sys/mounts`. */
  readonly transitMounts?: readonly string[];
  /** Delay added to every request before it is handled, in milliseconds. */
  readonly latencyMs?: number;
}

export interface TestTokenOptions {
  /** Lifetime in seconds; the token answers 403 "invalid token" afterwards. No expiry when omitted. */
  readonly ttlSeconds?: number;
  /** Whether renew-self may extend it (default true, as Vault's token create); a token without TTL is never renewable. */
  readonly renewable?: boolean;
  /** The token's explicit max TTL in seconds: renewals never take it past issue time + this. */
  readonly explicitMaxTtlSeconds?: number;
  /** A periodic token: every renewal gives this many seconds, with no max TTL (unless an explicit one is set). */
  readonly periodSeconds?: number;
  /**
   * Vault-style path patterns the token may use (`transit/sign/ccm-*`, `+`
   * for one segment). Omitted: every path. A path outside them is the
   * multierror 403 "permission denied" of a policy refusal.
   */
  readonly policyPaths?: readonly string[];
}

export interface TestAppRole {
  readonly roleId: string;
  /** Omitted: the role has `bind_secret_id=false` and logs in with its role_id alone. */
  readonly secretId?: string;
  readonly roleName?: string;
  /** Auth mount path (default `approle`). */
  readonly mountPath?: string;
  /** `auth.lease_duration` of issued tokens and their real lifetime (default 2764800 = 32 days). */
  readonly tokenTtlSeconds?: number;
  /** The role's token_max_ttl: renewals stop extending a token this long after its login (0: the system's 32 days). */
  readonly tokenMaxTtlSeconds?: number;
  /** The role's token_period: periodic tokens, renewed by this much each time, for ever. */
  readonly tokenPeriodSeconds?: number;
  readonly policies?: readonly string[];
  readonly policyPaths?: readonly string[];
}

export interface TestKubernetesRole {
  /** Role name, sent as `role` at login. */
  readonly name: string;
  /** Service account JWTs the role accepts, standing in for Kubernetes' TokenReview; any other JWT is 403. */
  readonly jwts: readonly string[];
  /** Auth mount path (default `kubernetes`). */
  readonly mountPath?: string;
  readonly serviceAccountName?: string;
  readonly serviceAccountNamespace?: string;
  /** Token TTL in seconds (default 2764800 = 32 days). */
  readonly tokenTtlSeconds?: number;
  readonly tokenMaxTtlSeconds?: number;
  readonly tokenPeriodSeconds?: number;
  readonly policies?: readonly string[];
  readonly policyPaths?: readonly string[];
}

/** An error every matching request answers with, until the test clears it (`TransitServer.injectError`). */
export interface InjectedVaultError {
  /** Tested against the request path after `/v1/` (`transit/sign/ccm-…`); sys/health is never affected. */
  readonly path: RegExp;
  readonly status: number;
  /** The one entry of Vault's `errors` array, sent as is: wrap it with `multierror()` for what a plain Go error looks like. */
  readonly message: string;
}

export interface TransitServerStats {
  /** Every HTTP request received, whatever its outcome. */
  requests: number;
  /** Requests that reached the sign handler (one per HTTP call, batch or not). */
  signRequests: number;
  /** Items carried in `batch_input` by sign requests (single-input requests add nothing). */
  signBatchItems: number;
  /** Successful AppRole and Kubernetes logins. */
  logins: number;
  /** Successful `auth/token/renew-self` calls. */
  renewals: number;
}

// ---------------------------------------------------------------------------
// Vault errors and envelopes

/** Go's hashicorp/go-multierror rendering, which Vault core wraps around plain handler errors. */
export function multierror(...messages: string[]): string {
  const head = messages.length === 1 ? '1 error occurred:' : `${messages.length} errors occurred:`;
  return `${head}\n${messages.map((m) => `\t* ${m}`).join('\n')}\n\n`;
}

const SEALED_MESSAGE = 'Vault is sealed';
const VAULT_VERSION = '1.19.0';

/** What a handler produced, before the HTTP layer turns it into a status and a body. */
type Outcome =
  /** A coded error (`logical.CodedError`, or `ErrPermissionDenied` from a login): the status and the message as they are. */
  | { readonly kind: 'coded-error'; readonly status: number; readonly message: string }
  | { readonly kind: 'data'; readonly data: Record<string, unknown> | null; readonly warnings: string[]; readonly auth?: Record<string, unknown> }
  /** The handler returned no response (Go nil): 404 for reads, 204 otherwise. */
  | { readonly kind: 'none' }
  /** An error response: 400 with the message (`logical.ErrorResponse`). */
  | { readonly kind: 'user-error'; readonly message: string }
  /** A plain Go error: 500 with the message in multierror form, unless the status is given. */
  | { readonly kind: 'internal-error'; readonly message: string; readonly status?: number };

const respond = {
  data(data: Record<string, unknown> | null, ...warnings: string[]): Outcome {
    return { kind: 'data', data, warnings };
  },
  none(): Outcome {
    return { kind: 'none' };
  },
  userError(message: string): Outcome {
    return { kind: 'user-error', message };
  },
  internalError(message: string, status?: number): Outcome {
    return status === undefined ? { kind: 'internal-error', message } : { kind: 'internal-error', message, status };
  },
};

type Operation = 'read' | 'list' | 'update' | 'delete';

// ---------------------------------------------------------------------------
// Go-compatible parsing helpers

/** Go's `%v` of a decoded JSON value, used in Vault's field-validation messages. */
function goFormat(value: unknown): string {
  if (value === null || value === undefined) return '<nil>';
  if (Array.isArray(value)) return `[${value.map(goFormat).join(' ')}]`;
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    return `map[${Object.keys(record)
      .sort()
      .map((k) => `${k}:${goFormat(record[k])}`)
      .join(' ')}]`;
  }
  return String(value);
}

function goTypeName(value: unknown): string {
  if (Array.isArray(value)) return '[]interface {}';
  if (value === null) return '<nil>';
  if (typeof value === 'object') return 'map[string]interface {}';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return 'json.Number';
  return 'string';
}

class ConversionError extends Error {}

function unconvertible(expected: string, value: unknown): ConversionError {
  return new ConversionError(`'' expected type '${expected}', got unconvertible type '${goTypeName(value)}', value: '${goFormat(value)}'`);
}

/** go-secure-stdlib parseutil.ParseString: JSON numbers keep their text, bools become "1"/"0". */
function parseGoString(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? '1' : '0';
  throw unconvertible('string', value);
}

const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const GO_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** Go's strconv.ParseBool; undefined when the text is not a boolean. */
function goParseBool(text: string): boolean | undefined {
  if (GO_TRUE.has(text)) return true;
  if (GO_FALSE.has(text)) return false;
  return undefined;
}

function parseGoBool(value: unknown): boolean {
  if (value === null || value === undefined) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' || typeof value === 'number') {
    const text = String(value);
    const parsed = goParseBool(text);
    if (parsed === undefined) throw new ConversionError(`strconv.ParseBool: parsing ${JSON.stringify(text)}: invalid syntax`);
    return parsed;
  }
  throw unconvertible('bool', value);
}

function parseGoInt(value: unknown): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number' || typeof value === 'string') {
    const text = String(value);
    if (text === '') return 0;
    if (!/^[+-]?\d+$/.test(text)) throw new ConversionError(`strconv.ParseInt: parsing ${JSON.stringify(text)}: invalid syntax`);
    return Number.parseInt(text, 10);
  }
  throw unconvertible('int64', value);
}

const GO_DURATION_UNITS: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, μs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/** parseutil.ParseDurationSecond: integer seconds, a `d` suffix for days, or a Go duration string. */
function parseGoDurationSeconds(value: unknown): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new ConversionError(`strconv.ParseInt: parsing ${JSON.stringify(String(value))}: invalid syntax`);
    return value;
  }
  if (typeof value !== 'string') throw unconvertible('int64', value);
  if (value === '') return 0;
  if (/^[+-]?\d+$/.test(value)) return Number.parseInt(value, 10);
  const days = /^([+-]?\d+)d$/.exec(value);
  if (days) return Number.parseInt(days[1]!, 10) * 86400;
  const invalid = new ConversionError(`time: invalid duration ${JSON.stringify(value)}`);
  let rest = value;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw invalid;
  let seconds = 0;
  const part = /^(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest !== '') {
    const match = part.exec(rest);
    if (!match || match[1] === '' || match[1] === '.') throw invalid;
    seconds += Number.parseFloat(match[1]!) * GO_DURATION_UNITS[match[2]!]!;
    rest = rest.slice(match[0].length);
  }
  return sign * Math.trunc(seconds);
}

/** Position of the first byte Go's base64 decoder rejects. */
class Base64Error extends Error {
  constructor(readonly offset: number) {
    super(`illegal base64 data at input byte ${offset}`);
  }
}

const STD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function decodeMap(alphabet: string): Int16Array {
  const map = new Int16Array(256).fill(-1);
  for (let i = 0; i < alphabet.length; i++) map[alphabet.charCodeAt(i)] = i;
  return map;
}

const STD_MAP = decodeMap(STD_ALPHABET);
const URL_MAP = decodeMap(URL_ALPHABET);
/** Canonical padded standard base64 without line breaks: input Go and Node decode to the same bytes. */
const PLAIN_STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Go's encoding/base64 decoder (decodeQuantum), so that error offsets match
 * Vault's: padding required for the standard encoding, `\r`/`\n` skipped,
 * anything else outside the alphabet rejected. Node's Buffer decoder is
 * lenient and would accept inputs Vault refuses.
 */
function goBase64Decode(text: string, encoding: 'std' | 'raw-url'): Buffer {
  // What every well-behaved client sends takes Node's native decoder: the
  // loop below costs more than an ECDSA signature on a TBSCertificate, and
  // throughput benchmarks run this server in ccm's own thread.
  if (encoding === 'std' && PLAIN_STD_BASE64.test(text)) return Buffer.from(text, 'base64');
  const source = Buffer.from(text, 'utf8');
  const map = encoding === 'std' ? STD_MAP : URL_MAP;
  const padded = encoding === 'std';
  const isNewline = (b: number | undefined): boolean => b === 0x0a || b === 0x0d;
  const out: number[] = [];
  let si = 0;
  while (si < source.length) {
    const quantum = [0, 0, 0, 0];
    let dlen = 4;
    let trailingGarbageAt: number | null = null;
    for (let j = 0; j < 4; j++) {
      if (si === source.length) {
        if (j === 0) return Buffer.from(out);
        if (j === 1 || padded) throw new Base64Error(si - j);
        dlen = j;
        break;
      }
      const byte = source[si]!;
      si++;
      const value = map[byte]!;
      if (value !== -1) {
        quantum[j] = value;
        continue;
      }
      if (isNewline(byte)) {
        j--;
        continue;
      }
      if (!padded || byte !== 0x3d) throw new Base64Error(si - 1);
      if (j === 0 || j === 1) throw new Base64Error(si - 1);
      if (j === 2) {
        while (si < source.length && isNewline(source[si])) si++;
        if (si === source.length) throw new Base64Error(source.length);
        if (source[si] !== 0x3d) throw new Base64Error(si - 1);
        si++;
      }
      while (si < source.length && isNewline(source[si])) si++;
      if (si < source.length) trailingGarbageAt = si;
      dlen = j;
      break;
    }
    const value = (quantum[0]! << 18) | (quantum[1]! << 12) | (quantum[2]! << 6) | quantum[3]!;
    const bytes = [(value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff];
    for (let i = 0; i < dlen - 1; i++) out.push(bytes[i]!);
    if (trailingGarbageAt !== null) throw new Base64Error(trailingGarbageAt);
  }
  return Buffer.from(out);
}

function base64UrlNoPad(bytes: Buffer): string {
  return bytes.toString('base64url');
}

/** Go's time.Time JSON form (RFC 3339 with nanoseconds, trailing zeros trimmed), in UTC. */
function rfc3339Nano(date: Date, extraNanos: number): string {
  const iso = date.toISOString(); // 2025-01-02T03:04:05.123Z
  const fraction = `${iso.slice(20, 23)}${String(extraNanos).padStart(6, '0')}`.replace(/0+$/, '');
  return `${iso.slice(0, 19)}${fraction === '' ? '' : `.${fraction}`}Z`;
}

// ---------------------------------------------------------------------------
// Field schemas (sdk/framework FieldData)

type FieldType = 'string' | 'bool' | 'int' | 'duration' | 'slice' | 'map';

interface FieldSchema {
  readonly type: FieldType;
  readonly default?: unknown;
}

type Fields = Readonly<Record<string, FieldSchema>>;

/** Request data after Vault's weak type coercion; `get` falls back to the schema default, then the zero value. */
class FieldData {
  private readonly values = new Map<string, unknown>();

  constructor(
    readonly raw: Readonly<Record<string, unknown>>,
    private readonly schema: Fields,
  ) {}

  /** FieldData.Validate: the first field that cannot be coerced, as Vault's message. */
  validate(): string | null {
    for (const [name, value] of Object.entries(this.raw)) {
      const field = this.schema[name];
      if (!field) continue;
      try {
        this.values.set(name, coerce(field.type, value));
      } catch (error) {
        if (!(error instanceof ConversionError)) throw error;
        return `Field validation failed: error converting input ${goFormat(value)} for field ${JSON.stringify(name)}: ${error.message}`;
      }
    }
    return null;
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  string(name: string): string {
    return this.get(name, '') as string;
  }

  bool(name: string): boolean {
    return this.get(name, false) as boolean;
  }

  int(name: string): number {
    return this.get(name, 0) as number;
  }

  private get(name: string, zero: unknown): unknown {
    if (this.values.has(name)) return this.values.get(name);
    const field = this.schema[name];
    return field?.default ?? zero;
  }
}

function coerce(type: FieldType, value: unknown): unknown {
  switch (type) {
    case 'string':
      return parseGoString(value);
    case 'bool':
      return parseGoBool(value);
    case 'int':
      return parseGoInt(value);
    case 'duration':
      return parseGoDurationSeconds(value);
    case 'slice':
    case 'map':
      return value;
  }
}

interface Route {
  readonly pattern: RegExp;
  readonly fields: Fields;
  readonly handlers: Partial<Record<Operation, (data: FieldData) => Promise<Outcome> | Outcome>>;
}

/** framework.GenericNameRegex: what a key name or export type may look like. */
const NAME = String.raw`\w(?:[\w.-]*\w)?`;

// ---------------------------------------------------------------------------
// Key material

type KeyType =
  | 'aes128-gcm96'
  | 'aes256-gcm96'
  | 'chacha20-poly1305'
  | 'hmac'
  | 'ecdsa-p256'
  | 'ecdsa-p384'
  | 'ecdsa-p521'
  | 'ed25519'
  | 'rsa-2048'
  | 'rsa-3072'
  | 'rsa-4096';

type KeyFamily = 'symmetric' | 'hmac' | 'ecdsa' | 'ed25519' | 'rsa';

interface KeyTypeTraits {
  readonly family: KeyFamily;
  readonly encryption: boolean;
  readonly signing: boolean;
  readonly derivation: boolean;
}

const KEY_TYPES: Readonly<Record<KeyType, KeyTypeTraits>> = {
  'aes128-gcm96': { family: 'symmetric', encryption: true, signing: false, derivation: true },
  'aes256-gcm96': { family: 'symmetric', encryption: true, signing: false, derivation: true },
  'chacha20-poly1305': { family: 'symmetric', encryption: true, signing: false, derivation: true },
  hmac: { family: 'hmac', encryption: false, signing: false, derivation: false },
  'ecdsa-p256': { family: 'ecdsa', encryption: false, signing: true, derivation: false },
  'ecdsa-p384': { family: 'ecdsa', encryption: false, signing: true, derivation: false },
  'ecdsa-p521': { family: 'ecdsa', encryption: false, signing: true, derivation: false },
  ed25519: { family: 'ed25519', encryption: false, signing: true, derivation: true },
  'rsa-2048': { family: 'rsa', encryption: true, signing: true, derivation: false },
  'rsa-3072': { family: 'rsa', encryption: true, signing: true, derivation: false },
  'rsa-4096': { family: 'rsa', encryption: true, signing: true, derivation: false },
};

/** Types a CE Vault knows but refuses; the texts are approximations (the spec only says "enterprise-only message"). */
const ENTERPRISE_ONLY_TYPES: Readonly<Record<string, string>> = {
  'aes128-cmac': 'CMAC operations are only available in enterprise versions of Vault',
  'aes256-cmac': 'CMAC operations are only available in enterprise versions of Vault',
  managed_key: 'managed keys are only available in enterprise versions of Vault',
  'ml-dsa': 'PQC key types are only available in enterprise versions of Vault',
  hybrid: 'PQC key types are only available in enterprise versions of Vault',
};

function isKeyType(value: string): value is KeyType {
  return Object.hasOwn(KEY_TYPES, value);
}

interface KeyVersion {
  readonly creationTime: string;
  readonly creationUnix: number;
  readonly hmacKey: Buffer;
  /** Symmetric (aes/chacha/hmac) key bytes. */
  readonly secret?: Buffer;
  readonly privateKey?: KeyObject;
  readonly publicKey?: KeyObject;
}

interface TransitKey {
  readonly name: string;
  readonly type: KeyType;
  readonly derived: boolean;
  readonly convergentEncryption: boolean;
  readonly keySize: number;
  exportable: boolean;
  allowPlaintextBackup: boolean;
  deletionAllowed: boolean;
  autoRotatePeriod: number;
  latestVersion: number;
  minDecryptionVersion: number;
  minEncryptionVersion: number;
  readonly versions: Map<number, KeyVersion>;
}

async function generateVersion(type: KeyType, keySize: number): Promise<KeyVersion> {
  const now = new Date();
  const base = {
    creationTime: rfc3339Nano(now, Number(process.hrtime.bigint() % 1_000_000n)),
    creationUnix: Math.floor(now.getTime() / 1000),
    hmacKey: randomBytes(32),
  };
  switch (type) {
    case 'aes128-gcm96':
      return { ...base, secret: randomBytes(16) };
    case 'aes256-gcm96':
    case 'chacha20-poly1305':
      return { ...base, secret: randomBytes(32) };
    case 'hmac': {
      const secret = randomBytes(keySize);
      return { ...base, hmacKey: secret, secret };
    }
    case 'ecdsa-p256':
    case 'ecdsa-p384':
    case 'ecdsa-p521': {
      const pair = await generateKeyPairAsync('ec', { namedCurve: EC_CURVES[type].opensslName });
      return { ...base, privateKey: pair.privateKey, publicKey: pair.publicKey };
    }
    case 'ed25519': {
      const pair = await generateKeyPairAsync('ed25519');
      return { ...base, privateKey: pair.privateKey, publicKey: pair.publicKey };
    }
    case 'rsa-2048':
    case 'rsa-3072':
    case 'rsa-4096': {
      const pair = await generateKeyPairAsync('rsa', { modulusLength: Number(type.slice(4)), publicExponent: 0x10001 });
      return { ...base, privateKey: pair.privateKey, publicKey: pair.publicKey };
    }
  }
}

/** Raw 32-byte Ed25519 public key: the tail of its SubjectPublicKeyInfo. */
function ed25519Raw(publicKey: KeyObject): Buffer {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return der.subarray(der.length - 32);
}

/** The `public_key` of a key read: PEM SPKI with its trailing newline, raw base64 for Ed25519. */
function formattedPublicKey(key: TransitKey, version: KeyVersion): string {
  if (!version.publicKey) return '';
  if (key.type === 'ed25519') return ed25519Raw(version.publicKey).toString('base64');
  return version.publicKey.export({ type: 'spki', format: 'pem' }) as string;
}

function keyData(key: TransitKey): Record<string, unknown> {
  const traits = KEY_TYPES[key.type];
  const data: Record<string, unknown> = {
    name: key.name,
    type: key.type,
    derived: key.derived,
    deletion_allowed: key.deletionAllowed,
    exportable: key.exportable,
    allow_plaintext_backup: key.allowPlaintextBackup,
    latest_version: key.latestVersion,
    min_available_version: 0,
    min_decryption_version: key.minDecryptionVersion,
    min_encryption_version: key.minEncryptionVersion,
    supports_encryption: traits.encryption,
    supports_decryption: traits.encryption,
    supports_signing: traits.signing,
    supports_derivation: traits.derivation,
    auto_rotate_period: key.autoRotatePeriod,
    imported_key: false,
  };
  if (key.keySize !== 0) data['key_size'] = key.keySize;
  if (key.derived) {
    data['kdf'] = 'hkdf_sha256';
    data['convergent_encryption'] = key.convergentEncryption;
    if (key.convergentEncryption) data['convergent_encryption_version'] = 3;
  }
  // Vault's formatKeyPolicy emits no `keys` at all for HMAC keys.
  if (traits.family === 'symmetric') {
    const keys: Record<string, number> = {};
    for (const [number, version] of visibleVersions(key)) keys[String(number)] = version.creationUnix;
    data['keys'] = keys;
  } else if (traits.family !== 'hmac') {
    const keys: Record<string, unknown> = {};
    for (const [number, version] of visibleVersions(key)) {
      keys[String(number)] = {
        name: publicKeyName(key.type),
        public_key: formattedPublicKey(key, version),
        certificate_chain: '',
        creation_time: version.creationTime,
        hybrid_public_key: '',
      };
    }
    data['keys'] = keys;
  }
  return data;
}

function publicKeyName(type: KeyType): string {
  if (type === 'ecdsa-p256' || type === 'ecdsa-p384' || type === 'ecdsa-p521') return EC_CURVES[type].vaultName;
  return type;
}

/** Versions below min_decryption_version are archived in Vault and invisible to reads, exports and signing. */
function visibleVersions(key: TransitKey): [number, KeyVersion][] {
  return [...key.versions.entries()].filter(([number]) => number >= key.minDecryptionVersion).sort(([a], [b]) => a - b);
}

// ---------------------------------------------------------------------------
// Hashes, ECDSA over a digest, EMSA-PSS: Node signs messages, Vault also
// signs caller-supplied digests (`prehashed`), which Node has no API for.

type HashName = 'sha1' | 'sha2-224' | 'sha2-256' | 'sha2-384' | 'sha2-512' | 'sha3-224' | 'sha3-256' | 'sha3-384' | 'sha3-512' | 'none';

interface HashInfo {
  readonly node: string;
  readonly size: number;
  /** DER content of the AlgorithmIdentifier OID, for the PKCS#1 v1.5 DigestInfo. */
  readonly oid: readonly number[];
}

const SHA2_ARC = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02];
const HASHES: Readonly<Record<Exclude<HashName, 'none'>, HashInfo>> = {
  sha1: { node: 'sha1', size: 20, oid: [0x2b, 0x0e, 0x03, 0x02, 0x1a] },
  'sha2-224': { node: 'sha224', size: 28, oid: [...SHA2_ARC, 0x04] },
  'sha2-256': { node: 'sha256', size: 32, oid: [...SHA2_ARC, 0x01] },
  'sha2-384': { node: 'sha384', size: 48, oid: [...SHA2_ARC, 0x02] },
  'sha2-512': { node: 'sha512', size: 64, oid: [...SHA2_ARC, 0x03] },
  'sha3-224': { node: 'sha3-224', size: 28, oid: [...SHA2_ARC, 0x07] },
  'sha3-256': { node: 'sha3-256', size: 32, oid: [...SHA2_ARC, 0x08] },
  'sha3-384': { node: 'sha3-384', size: 48, oid: [...SHA2_ARC, 0x09] },
  'sha3-512': { node: 'sha3-512', size: 64, oid: [...SHA2_ARC, 0x0a] },
};

function isHashName(value: string): value is HashName {
  return value === 'none' || Object.hasOwn(HASHES, value);
}

function digestInfo(hash: HashInfo, digest: Buffer): Buffer {
  const algorithm = [0x30, hash.oid.length + 4, 0x06, hash.oid.length, ...hash.oid, 0x05, 0x00];
  return Buffer.concat([Buffer.from([0x30, algorithm.length + 2 + digest.length, ...algorithm, 0x04, digest.length]), digest]);
}

interface CurveParameters {
  readonly p: bigint;
  readonly a: bigint;
  readonly b: bigint;
  readonly n: bigint;
  readonly g: AffinePoint;
  readonly byteLength: number;
}

type AffinePoint = { readonly x: bigint; readonly y: bigint } | null;

interface EcCurve {
  readonly opensslName: string;
  readonly vaultName: string;
  readonly p: bigint;
  readonly n: bigint;
  parameters?: CurveParameters;
}

const EC_CURVES: Readonly<Record<'ecdsa-p256' | 'ecdsa-p384' | 'ecdsa-p521', EcCurve>> = {
  'ecdsa-p256': {
    opensslName: 'prime256v1',
    vaultName: 'P-256',
    p: 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n,
    n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  },
  'ecdsa-p384': {
    opensslName: 'secp384r1',
    vaultName: 'P-384',
    p: 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n,
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  },
  'ecdsa-p521': {
    opensslName: 'secp521r1',
    vaultName: 'P-521',
    p: 2n ** 521n - 1n,
    n: 0x1fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
  },
};

function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r >= 0n ? r : r + m;
}

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [mod(a, m), m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return mod(oldS, m);
}

function bytesToBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
}

function bigIntToBytes(value: bigint, length: number): Buffer {
  return Buffer.from(value.toString(16).padStart(length * 2, '0'), 'hex');
}

/** The generator comes from OpenSSL (public key of scalar 1), `b` from the curve equation, so only p and n are typed in. */
function curveParameters(curve: EcCurve): CurveParameters {
  if (curve.parameters) return curve.parameters;
  const ecdh = createECDH(curve.opensslName);
  ecdh.setPrivateKey(Buffer.from([1]));
  const point = ecdh.getPublicKey();
  const byteLength = (point.length - 1) / 2;
  const x = bytesToBigInt(point.subarray(1, 1 + byteLength));
  const y = bytesToBigInt(point.subarray(1 + byteLength));
  const a = curve.p - 3n;
  const b = mod(y * y - x * x * x - a * x, curve.p);
  curve.parameters = { p: curve.p, a, b, n: curve.n, g: { x, y }, byteLength };
  return curve.parameters;
}

function pointAdd(c: CurveParameters, P: AffinePoint, Q: AffinePoint): AffinePoint {
  if (!P) return Q;
  if (!Q) return P;
  if (P.x === Q.x) return mod(P.y + Q.y, c.p) === 0n ? null : pointDouble(c, P);
  const l = mod((Q.y - P.y) * modInverse(Q.x - P.x, c.p), c.p);
  const x = mod(l * l - P.x - Q.x, c.p);
  return { x, y: mod(l * (P.x - x) - P.y, c.p) };
}

function pointDouble(c: CurveParameters, P: AffinePoint): AffinePoint {
  if (!P || P.y === 0n) return null;
  const l = mod((3n * P.x * P.x + c.a) * modInverse(2n * P.y, c.p), c.p);
  const x = mod(l * l - 2n * P.x, c.p);
  return { x, y: mod(l * (P.x - x) - P.y, c.p) };
}

function pointMultiply(c: CurveParameters, k: bigint, P: AffinePoint): AffinePoint {
  let result: AffinePoint = null;
  let addend = P;
  for (let scalar = k; scalar > 0n; scalar >>= 1n) {
    if (scalar & 1n) result = pointAdd(c, result, addend);
    addend = pointDouble(c, addend);
  }
  return result;
}

/** Go's hashToInt: the leftmost bits of the digest, as many as the group order has. */
function hashToInt(digest: Buffer, n: bigint): bigint {
  const orderBits = n.toString(2).length;
  const orderBytes = Math.ceil(orderBits / 8);
  const truncated = digest.length > orderBytes ? digest.subarray(0, orderBytes) : digest;
  const excess = truncated.length * 8 - orderBits;
  const value = bytesToBigInt(truncated);
  return excess > 0 ? value >> BigInt(excess) : value;
}

function ecdsaSignDigest(curve: EcCurve, privateKey: KeyObject, digest: Buffer): { r: bigint; s: bigint } {
  const c = curveParameters(curve);
  const jwk = privateKey.export({ format: 'jwk' });
  const d = bytesToBigInt(Buffer.from(jwk.d!, 'base64url'));
  const e = hashToInt(digest, c.n);
  for (;;) {
    const k = mod(bytesToBigInt(randomBytes(c.byteLength + 16)), c.n - 1n) + 1n;
    const point = pointMultiply(c, k, c.g);
    if (!point) continue;
    const r = mod(point.x, c.n);
    if (r === 0n) continue;
    const s = mod(modInverse(k, c.n) * (e + r * d), c.n);
    if (s !== 0n) return { r, s };
  }
}

function ecdsaVerifyDigest(curve: EcCurve, publicKey: KeyObject, digest: Buffer, r: bigint, s: bigint): boolean {
  const c = curveParameters(curve);
  if (r <= 0n || s <= 0n || r >= c.n || s >= c.n) return false;
  const jwk = publicKey.export({ format: 'jwk' });
  const q = { x: bytesToBigInt(Buffer.from(jwk.x!, 'base64url')), y: bytesToBigInt(Buffer.from(jwk.y!, 'base64url')) };
  const w = modInverse(s, c.n);
  const e = hashToInt(digest, c.n);
  const point = pointAdd(c, pointMultiply(c, mod(e * w, c.n), c.g), pointMultiply(c, mod(r * w, c.n), q));
  return point !== null && mod(point.x, c.n) === r;
}

function derLength(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

function derInteger(value: bigint): number[] {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  const bytes = [...Buffer.from(hex, 'hex')];
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return [0x02, ...derLength(bytes.length), ...bytes];
}

/** Ecdsa-Sig-Value, what Go's asn1.Marshal of `struct{R, S *big.Int}` produces. */
function ecdsaSignatureDer(r: bigint, s: bigint): Buffer {
  const content = [...derInteger(r), ...derInteger(s)];
  return Buffer.from([0x30, ...derLength(content.length), ...content]);
}

interface DerElement {
  readonly tag: number;
  readonly content: Buffer;
  readonly end: number;
}

/** One DER TLV the way Go's encoding/asn1 reads it: definite, minimal lengths only. */
function readDer(bytes: Buffer, offset: number): DerElement | null {
  if (offset + 2 > bytes.length) return null;
  const tag = bytes[offset]!;
  if ((tag & 0x1f) === 0x1f) return null;
  let length = bytes[offset + 1]!;
  let cursor = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4 || cursor + count > bytes.length) return null;
    length = 0;
    for (let i = 0; i < count; i++) {
      if (i === 0 && bytes[cursor] === 0) return null;
      length = length * 256 + bytes[cursor + i]!;
    }
    if (length < 0x80) return null;
    cursor += count;
  }
  if (cursor + length > bytes.length) return null;
  return { tag, content: bytes.subarray(cursor, cursor + length), end: cursor + length };
}

function readDerInteger(bytes: Buffer, offset: number): { value: bigint; end: number } | null {
  const element = readDer(bytes, offset);
  if (!element || element.tag !== 0x02 || element.content.length === 0) return null;
  const c = element.content;
  if (c.length > 1 && ((c[0] === 0x00 && !(c[1]! & 0x80)) || (c[0] === 0xff && c[1]! & 0x80))) return null;
  let value = bytesToBigInt(c);
  if (c[0]! & 0x80) value -= 1n << BigInt(c.length * 8);
  return { value, end: element.end };
}

/** Go's asn1.Unmarshal into Ecdsa-Sig-Value; extra elements inside the SEQUENCE are tolerated as Go does. */
function parseEcdsaDer(bytes: Buffer): { r: bigint; s: bigint } | 'invalid' | 'extra-data' {
  const sequence = readDer(bytes, 0);
  if (!sequence || sequence.tag !== 0x30) return 'invalid';
  const r = readDerInteger(sequence.content, 0);
  if (!r) return 'invalid';
  const s = readDerInteger(sequence.content, r.end);
  if (!s) return 'invalid';
  if (sequence.end !== bytes.length) return 'extra-data';
  return { r: r.value, s: s.value };
}

function mgf1(hash: HashInfo, seed: Buffer, length: number): Buffer {
  const chunks: Buffer[] = [];
  for (let counter = 0; chunks.length * hash.size < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    chunks.push(createHash(hash.node).update(seed).update(c).digest());
  }
  return Buffer.concat(chunks).subarray(0, length);
}

function rsaModulusBits(key: KeyObject): number {
  return key.asymmetricKeyDetails!.modulusLength!;
}

/** EMSA-PSS-ENCODE (RFC 8017 §9.1.1) of a digest, then the raw RSA private operation. */
function pssSignDigest(privateKey: KeyObject, hash: HashInfo, digest: Buffer, saltLength: number): Buffer {
  const modBits = rsaModulusBits(privateKey);
  const k = Math.ceil(modBits / 8);
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const salt = randomBytes(saltLength);
  const h = createHash(hash.node).update(Buffer.alloc(8)).update(digest).update(salt).digest();
  const db = Buffer.concat([Buffer.alloc(emLen - saltLength - hash.size - 2), Buffer.from([0x01]), salt]);
  const mask = mgf1(hash, h, db.length);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >> (8 * emLen - emBits);
  const em = Buffer.concat([Buffer.alloc(k - emLen), db, h, Buffer.from([0xbc])]);
  return privateEncrypt({ key: privateKey, padding: cryptoConstants.RSA_NO_PADDING }, em);
}

/** EMSA-PSS-VERIFY of a digest; `saltLength` 0 detects the salt length as Go's PSSSaltLengthAuto does. */
function pssVerifyDigest(publicKey: KeyObject, hash: HashInfo, digest: Buffer, signature: Buffer, saltLength: number): boolean {
  const modBits = rsaModulusBits(publicKey);
  const k = Math.ceil(modBits / 8);
  if (signature.length !== k) return false;
  let raw: Buffer;
  try {
    raw = publicDecrypt({ key: publicKey, padding: cryptoConstants.RSA_NO_PADDING }, signature);
  } catch {
    return false;
  }
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  if (raw.subarray(0, k - emLen).some((b) => b !== 0)) return false;
  const em = raw.subarray(k - emLen);
  if (emLen < hash.size + 2 || em[emLen - 1] !== 0xbc) return false;
  const db = Buffer.from(em.subarray(0, emLen - hash.size - 1));
  const h = em.subarray(emLen - hash.size - 1, emLen - 1);
  if (db[0]! & ~(0xff >> (8 * emLen - emBits)) & 0xff) return false;
  const mask = mgf1(hash, h, db.length);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >> (8 * emLen - emBits);
  const separator = db.indexOf(0x01);
  if (separator < 0 || db.subarray(0, separator).some((b) => b !== 0)) return false;
  const salt = db.subarray(separator + 1);
  if (saltLength > 0 && salt.length !== saltLength) return false;
  const expected = createHash(hash.node).update(Buffer.alloc(8)).update(digest).update(salt).digest();
  return timingSafeEqual(expected, h);
}

/** Go's maximum PSS salt for a key and hash: what `auto` signs with. */
function maxPssSaltLength(modBits: number, hash: HashInfo): number {
  return Math.ceil((modBits - 1) / 8) - 2 - hash.size;
}

// Go's rsa.PSSSaltLengthAuto and rsa.PSSSaltLengthEqualsHash.
const SALT_AUTO = 0;
const SALT_EQUALS_HASH = -1;

// ---------------------------------------------------------------------------
// Sign / verify arguments (path_sign_verify.go)

interface SignVerifyArgs {
  readonly keyName: string;
  readonly hashName: HashName;
  readonly marshaling: 'asn1' | 'jws';
  readonly prehashed: boolean;
  readonly signatureAlgorithm: string;
  readonly saltLength: number;
}

const SIGN_VERIFY_COMMON_FIELDS: Fields = {
  name: { type: 'string' },
  input: { type: 'string' },
  context: { type: 'string' },
  signature_context: { type: 'string' },
  hash_algorithm: { type: 'string', default: 'sha2-256' },
  algorithm: { type: 'string', default: 'sha2-256' },
  urlalgorithm: { type: 'string' },
  prehashed: { type: 'bool' },
  signature_algorithm: { type: 'string' },
  marshaling_algorithm: { type: 'string', default: 'asn1' },
  salt_length: { type: 'string', default: 'auto' },
  batch_input: { type: 'slice' },
};

function signVerifyArgs(d: FieldData): SignVerifyArgs | string {
  // The URL suffix wins, then hash_algorithm; the deprecated `algorithm` only
  // counts when hash_algorithm was sent explicitly empty, because
  // hash_algorithm carries a non-empty default (getHashAlgorithmFromArgs).
  let hashText = d.string('urlalgorithm');
  if (hashText === '') hashText = d.string('hash_algorithm');
  if (hashText === '') hashText = d.string('algorithm');
  if (hashText === '') hashText = 'sha2-256';
  if (!isHashName(hashText)) return `invalid hash algorithm ${JSON.stringify(hashText)}`;
  const marshaling = d.string('marshaling_algorithm');
  if (marshaling !== 'asn1' && marshaling !== 'jws') return `invalid marshaling type ${JSON.stringify(marshaling)}`;
  const saltText = d.string('salt_length');
  let saltLength: number;
  switch (saltText.toLowerCase()) {
    case 'auto':
      saltLength = SALT_AUTO;
      break;
    case 'hash':
      saltLength = SALT_EQUALS_HASH;
      break;
    default: {
      if (!/^[+-]?\d+$/.test(saltText)) return `salt length neither 'auto', 'hash', nor an int: ${saltText}`;
      saltLength = Number.parseInt(saltText, 10);
      if (saltLength < SALT_EQUALS_HASH) return `salt length is invalid: ${saltLength}`;
    }
  }
  return {
    keyName: d.string('name'),
    hashName: hashText,
    marshaling,
    prehashed: d.bool('prehashed'),
    signatureAlgorithm: d.string('signature_algorithm'),
    saltLength,
  };
}

/** validateCommonSignVerifyApiArgs + the CE `none` rule. */
function signingRefusal(key: TransitKey, args: SignVerifyArgs): string | null {
  if (!KEY_TYPES[key.type].signing) return `key type ${key.type} does not support signing`;
  if (args.hashName === 'none' && (!args.prehashed || args.signatureAlgorithm !== 'pkcs1v15')) {
    return 'hash_algorithm=none requires both prehashed=true and signature_algorithm=pkcs1v15';
  }
  return null;
}

/** CE ≥ 1.19 accepts Pure Ed25519 only (_forbidEd25519EntBehavior). */
function ed25519Refusal(key: TransitKey, args: SignVerifyArgs, signatureContext: string): string | null {
  if (key.type !== 'ed25519') return null;
  if (args.prehashed) return 'only Pure Ed25519 signatures supported, prehashed must be false';
  if (args.hashName === 'sha2-512') return 'only Pure Ed25519 signatures supported, hash_alogithm should not be set';
  if (signatureContext !== '') return 'only Pure Ed25519 signatures supported, signature_context must be empty';
  return null;
}

/** What one sign item turns into before the policy signs it: Vault hashes ECDSA/RSA input itself unless prehashed. */
interface PreparedInput {
  /** The original message when Vault hashed it (Node can then sign the message); null when prehashed. */
  readonly message: Buffer | null;
  /** What the key signs: the digest for ECDSA/RSA, the message for Ed25519. */
  readonly signed: Buffer;
}

function prepareInput(key: TransitKey, args: SignVerifyArgs, input: Buffer): PreparedInput {
  const family = KEY_TYPES[key.type].family;
  if ((family === 'ecdsa' || family === 'rsa') && !args.prehashed && args.hashName !== 'none') {
    return { message: input, signed: createHash(HASHES[args.hashName].node).update(input).digest() };
  }
  return { message: family === 'ed25519' ? input : null, signed: input };
}

class PolicyError extends Error {
  /** UserError in Go: 400 on verify; sign reports every policy error as 500 (Vault issue #20713). */
  constructor(
    message: string,
    readonly userError: boolean,
  ) {
    super(message);
  }
}

/** keysutil.Policy.SignWithOptions for one resolved key version; returns the raw signature bytes. */
function signBytes(key: TransitKey, version: KeyVersion, args: SignVerifyArgs, input: PreparedInput): Buffer {
  const privateKey = version.privateKey!;
  switch (key.type) {
    case 'ecdsa-p256':
    case 'ecdsa-p384':
    case 'ecdsa-p521': {
      if (input.message && args.hashName !== 'none') {
        return cryptoSign(HASHES[args.hashName].node, input.message, { key: privateKey, dsaEncoding: args.marshaling === 'asn1' ? 'der' : 'ieee-p1363' });
      }
      const { r, s } = ecdsaSignDigest(EC_CURVES[key.type], privateKey, input.signed);
      if (args.marshaling === 'asn1') return ecdsaSignatureDer(r, s);
      const size = curveParameters(EC_CURVES[key.type]).byteLength;
      return Buffer.concat([bigIntToBytes(r, size), bigIntToBytes(s, size)]);
    }
    case 'ed25519':
      return cryptoSign(null, input.signed, privateKey);
    case 'rsa-2048':
    case 'rsa-3072':
    case 'rsa-4096':
      return rsaSign(privateKey, args, input);
    default:
      throw new PolicyError(`message signing not supported for key type ${key.type}`, false);
  }
}

function rsaSign(privateKey: KeyObject, args: SignVerifyArgs, input: PreparedInput): Buffer {
  const algorithm = args.signatureAlgorithm === '' ? 'pss' : args.signatureAlgorithm;
  if (algorithm === 'pss') {
    if (args.hashName === 'none') throw new PolicyError('unsupported hash algorithm', false);
    const hash = HASHES[args.hashName];
    const modBits = rsaModulusBits(privateKey);
    const max = maxPssSaltLength(modBits, hash);
    if (!(args.saltLength >= SALT_EQUALS_HASH && args.saltLength <= max)) {
      throw new PolicyError(`requested salt length ${args.saltLength} is invalid`, true);
    }
    const saltLength = args.saltLength === SALT_AUTO ? max : args.saltLength === SALT_EQUALS_HASH ? hash.size : args.saltLength;
    if (input.message) {
      return cryptoSign(hash.node, input.message, { key: privateKey, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength });
    }
    if (input.signed.length !== hash.size) throw new PolicyError('crypto/rsa: input must be hashed with given hash', false);
    return pssSignDigest(privateKey, hash, input.signed, saltLength);
  }
  if (algorithm === 'pkcs1v15') {
    if (input.message && args.hashName !== 'none') {
      return cryptoSign(HASHES[args.hashName].node, input.message, { key: privateKey, padding: cryptoConstants.RSA_PKCS1_PADDING });
    }
    let encoded = input.signed;
    if (args.hashName !== 'none') {
      const hash = HASHES[args.hashName];
      if (input.signed.length !== hash.size) throw new PolicyError('crypto/rsa: input must be hashed with given hash', false);
      encoded = digestInfo(hash, input.signed);
    }
    if (encoded.length + 11 > Math.ceil(rsaModulusBits(privateKey) / 8)) throw new PolicyError('crypto/rsa: message too long for RSA key size', false);
    return privateEncrypt({ key: privateKey, padding: cryptoConstants.RSA_PKCS1_PADDING }, encoded);
  }
  throw new PolicyError(`unsupported rsa signature algorithm ${algorithm}`, false);
}

/** keysutil.Policy.VerifySignatureWithOptions once the version and the signature bytes are known. */
function verifyBytes(key: TransitKey, version: KeyVersion, args: SignVerifyArgs, input: PreparedInput, signature: Buffer): boolean {
  const publicKey = version.publicKey!;
  switch (key.type) {
    case 'ecdsa-p256':
    case 'ecdsa-p384':
    case 'ecdsa-p521': {
      let r: bigint;
      let s: bigint;
      if (args.marshaling === 'asn1') {
        const parsed = parseEcdsaDer(signature);
        if (parsed === 'invalid') throw new PolicyError('supplied signature is invalid', true);
        if (parsed === 'extra-data') throw new PolicyError('supplied signature contains extra data', true);
        ({ r, s } = parsed);
      } else {
        const half = Math.floor(signature.length / 2);
        r = bytesToBigInt(signature.subarray(0, half));
        s = bytesToBigInt(signature.subarray(half));
      }
      if (r <= 0n || s <= 0n) return false;
      if (input.message && args.hashName !== 'none') {
        try {
          return cryptoVerify(HASHES[args.hashName].node, input.message, { key: publicKey, dsaEncoding: 'der' }, ecdsaSignatureDer(r, s));
        } catch {
          return false;
        }
      }
      return ecdsaVerifyDigest(EC_CURVES[key.type], publicKey, input.signed, r, s);
    }
    case 'ed25519':
      if (signature.length !== 64) return false;
      try {
        return cryptoVerify(null, input.signed, publicKey, signature);
      } catch {
        return false;
      }
    case 'rsa-2048':
    case 'rsa-3072':
    case 'rsa-4096':
      return rsaVerify(publicKey, args, input, signature);
    default:
      throw new PolicyError(`message verification not supported for key type ${key.type}`, true);
  }
}

function rsaVerify(publicKey: KeyObject, args: SignVerifyArgs, input: PreparedInput, signature: Buffer): boolean {
  const algorithm = args.signatureAlgorithm === '' ? 'pss' : args.signatureAlgorithm;
  const k = Math.ceil(rsaModulusBits(publicKey) / 8);
  if (algorithm === 'pss') {
    if (args.hashName === 'none') throw new PolicyError('unsupported hash algorithm', false);
    const hash = HASHES[args.hashName];
    if (!(args.saltLength >= SALT_EQUALS_HASH && args.saltLength <= maxPssSaltLength(rsaModulusBits(publicKey), hash))) {
      throw new PolicyError(`requested salt length ${args.saltLength} is invalid`, true);
    }
    const saltLength = args.saltLength === SALT_EQUALS_HASH ? hash.size : args.saltLength;
    if (input.message) {
      if (signature.length !== k) return false;
      try {
        return cryptoVerify(hash.node, input.message, {
          key: publicKey,
          padding: cryptoConstants.RSA_PKCS1_PSS_PADDING,
          saltLength: saltLength === SALT_AUTO ? cryptoConstants.RSA_PSS_SALTLEN_AUTO : saltLength,
        }, signature);
      } catch {
        return false;
      }
    }
    return pssVerifyDigest(publicKey, hash, input.signed, signature, saltLength);
  }
  if (algorithm === 'pkcs1v15') {
    if (signature.length !== k) return false;
    if (input.message && args.hashName !== 'none') {
      try {
        return cryptoVerify(HASHES[args.hashName].node, input.message, { key: publicKey, padding: cryptoConstants.RSA_PKCS1_PADDING }, signature);
      } catch {
        return false;
      }
    }
    const expected = args.hashName === 'none' ? input.signed : digestInfo(HASHES[args.hashName], input.signed);
    try {
      const recovered = publicDecrypt({ key: publicKey, padding: cryptoConstants.RSA_PKCS1_PADDING }, signature);
      return recovered.length === expected.length && timingSafeEqual(recovered, expected);
    } catch {
      return false;
    }
  }
  throw new PolicyError(`unsupported rsa signature algorithm ${algorithm}`, false);
}

// ---------------------------------------------------------------------------
// The Transit engine (one per mount)

class TransitEngine {
  readonly keys = new Map<string, TransitKey>();
  /** Creations in flight: a second create of the same name waits and then sees "already existed", as Vault's lock manager does. */
  private readonly creating = new Map<string, Promise<TransitKey>>();
  readonly routes: readonly Route[];

  constructor(private readonly stats: TransitServerStats) {
    this.routes = [
      { pattern: /^keys\/?$/, fields: {}, handlers: { list: () => this.listKeys() } },
      {
        pattern: new RegExp(`^keys/(?<name>${NAME})$`),
        fields: {
          name: { type: 'string' },
          type: { type: 'string', default: 'aes256-gcm96' },
          derived: { type: 'bool' },
          convergent_encryption: { type: 'bool' },
          exportable: { type: 'bool' },
          allow_plaintext_backup: { type: 'bool' },
          context: { type: 'string' },
          auto_rotate_period: { type: 'duration', default: 0 },
          key_size: { type: 'int', default: 0 },
          managed_key_name: { type: 'string' },
          managed_key_id: { type: 'string' },
          parameter_set: { type: 'string' },
          hybrid_key_type_pqc: { type: 'string' },
          hybrid_key_type_ec: { type: 'string' },
        },
        handlers: {
          update: (d) => this.createKey(d),
          read: (d) => this.readKey(d),
          delete: (d) => this.deleteKey(d),
        },
      },
      {
        pattern: new RegExp(`^keys/(?<name>${NAME})/config$`),
        fields: {
          name: { type: 'string' },
          min_decryption_version: { type: 'int' },
          min_encryption_version: { type: 'int' },
          deletion_allowed: { type: 'bool' },
          exportable: { type: 'bool' },
          allow_plaintext_backup: { type: 'bool' },
          auto_rotate_period: { type: 'duration' },
        },
        handlers: { update: (d) => this.configureKey(d) },
      },
      {
        pattern: new RegExp(`^keys/(?<name>${NAME})/rotate$`),
        fields: { name: { type: 'string' }, managed_key_name: { type: 'string' }, managed_key_id: { type: 'string' } },
        handlers: { update: (d) => this.rotateKey(d) },
      },
      {
        pattern: new RegExp(`^export/(?<type>${NAME})/(?<name>${NAME})(?:/(?<version>.+))?$`),
        fields: { type: { type: 'string' }, name: { type: 'string' }, version: { type: 'string' } },
        handlers: { read: (d) => this.exportKey(d) },
      },
      {
        pattern: new RegExp(`^sign/(?<name>${NAME})(?:/(?<urlalgorithm>.+))?$`),
        fields: { ...SIGN_VERIFY_COMMON_FIELDS, key_version: { type: 'int' } },
        handlers: { update: (d) => this.sign(d) },
      },
      {
        pattern: new RegExp(`^verify/(?<name>${NAME})(?:/(?<urlalgorithm>.+))?$`),
        fields: { ...SIGN_VERIFY_COMMON_FIELDS, signature: { type: 'string' }, hmac: { type: 'string' }, cmac: { type: 'string' }, mac_length: { type: 'int' } },
        handlers: { update: (d) => this.verify(d) },
      },
    ];
  }

  private listKeys(): Outcome {
    if (this.keys.size === 0) return respond.none();
    return respond.data({ keys: [...this.keys.keys()].sort() });
  }

  private async createKey(d: FieldData): Promise<Outcome> {
    const name = d.string('name');
    const typeText = d.string('type');
    const derived = d.bool('derived');
    const convergent = d.bool('convergent_encryption');
    const keySize = d.int('key_size');
    const autoRotatePeriod = d.int('auto_rotate_period');
    if (autoRotatePeriod !== 0 && autoRotatePeriod < 3600) return respond.userError('auto rotate period must be 0 to disable or at least an hour');
    if (!derived && convergent) return respond.userError('convergent encryption requires derivation to be enabled');
    if (Object.hasOwn(ENTERPRISE_ONLY_TYPES, typeText)) {
      if (typeText === 'ml-dsa' && !['44', '65', '87'].includes(d.string('parameter_set'))) {
        return respond.userError(`invalid parameter set ${d.string('parameter_set')} for key type ml-dsa`);
      }
      return respond.userError(ENTERPRISE_ONLY_TYPES[typeText]!);
    }
    if (!isKeyType(typeText)) return respond.userError(`unknown key type ${typeText}`);
    const type = typeText;
    if (keySize !== 0) {
      if (type !== 'hmac') return respond.userError(`key_size is not valid for algorithm ${type}`);
      if (keySize < 32 || keySize > 512) return respond.userError(`invalid key_size ${keySize}`);
    }

    const existing = this.keys.get(name) ?? (await this.creating.get(name));
    if (existing) return respond.data(keyData(existing), `key ${name} already existed`);

    // Lock-manager checks happen only for a key that does not exist yet.
    const family = KEY_TYPES[type].family;
    if ((family === 'ecdsa' || family === 'rsa' || family === 'hmac') && (derived || convergent)) {
      return respond.internalError(`key derivation and convergent encryption not supported for keys of type ${type}`);
    }
    if (type === 'ed25519' && convergent) return respond.internalError(`convergent encryption not supported for keys of type ${type}`);
    if (type === 'ed25519' && derived) {
      // Test-server limit: derived Ed25519 needs Vault's HKDF key derivation, which is not reproduced here.
      return respond.userError('derived ed25519 keys are not implemented by the transit test server');
    }
    if (type === 'hmac' && keySize === 0) return respond.internalError('invalid key size for HMAC key, must be between 32 and 512 bytes');

    const creation = generateVersion(type, keySize).then((version) => {
      const key: TransitKey = {
        name,
        type,
        derived,
        convergentEncryption: convergent,
        keySize,
        exportable: d.bool('exportable'),
        allowPlaintextBackup: d.bool('allow_plaintext_backup'),
        deletionAllowed: false,
        autoRotatePeriod,
        latestVersion: 1,
        minDecryptionVersion: 1,
        minEncryptionVersion: 0,
        versions: new Map([[1, version]]),
      };
      this.keys.set(name, key);
      return key;
    });
    this.creating.set(name, creation);
    try {
      return respond.data(keyData(await creation));
    } finally {
      this.creating.delete(name);
    }
  }

  private readKey(d: FieldData): Outcome {
    const key = this.keys.get(d.string('name'));
    if (!key) return respond.none();
    const context = d.string('context');
    if (context !== '') {
      try {
        goBase64Decode(context, 'std');
      } catch {
        return respond.userError('failed to base64-decode context');
      }
    }
    return respond.data(keyData(key));
  }

  private deleteKey(d: FieldData): Outcome {
    const name = d.string('name');
    const key = this.keys.get(name);
    if (!key) return respond.userError(`error deleting policy ${name}: could not delete key; not found`);
    if (!key.deletionAllowed) return respond.userError(`error deleting policy ${name}: deletion is not allowed for this key`);
    this.keys.delete(name);
    return respond.none();
  }

  private configureKey(d: FieldData): Outcome {
    const name = d.string('name');
    const key = this.keys.get(name);
    if (!key) return respond.userError(`no existing key named ${name} could be found`);
    // Vault restores the policy when it refuses; work on a copy and commit at the end.
    const next = { ...key };
    let warning: string | null = null;
    if (d.has('min_decryption_version')) {
      let value = d.int('min_decryption_version');
      if (value < 0) return respond.userError('min decryption version cannot be negative');
      if (value === 0) {
        value = 1;
        warning = 'since Vault 0.3, transit key numbering starts at 1; forcing minimum to 1';
      }
      if (value !== next.minDecryptionVersion) {
        if (value > next.latestVersion) return respond.userError(`cannot set min decryption version of ${value}, latest key version is ${next.latestVersion}`);
        next.minDecryptionVersion = value;
      }
    }
    if (d.has('min_encryption_version')) {
      const value = d.int('min_encryption_version');
      if (value < 0) return respond.userError('min encryption version cannot be negative');
      if (value !== next.minEncryptionVersion) {
        if (value > next.latestVersion) return respond.userError(`cannot set min encryption version of ${value}, latest key version is ${next.latestVersion}`);
        next.minEncryptionVersion = value;
      }
    }
    if (next.minEncryptionVersion > 0 && next.minEncryptionVersion < next.minDecryptionVersion) {
      return respond.userError(
        `cannot set min encryption/decryption values; min encryption version of ${next.minEncryptionVersion} must be greater than or equal to min decryption version of ${next.minDecryptionVersion}`,
      );
    }
    if (d.has('deletion_allowed')) next.deletionAllowed = d.bool('deletion_allowed');
    if (d.has('exportable') && d.bool('exportable')) next.exportable = true;
    if (d.has('allow_plaintext_backup') && d.bool('allow_plaintext_backup')) next.allowPlaintextBackup = true;
    if (d.has('auto_rotate_period')) {
      const period = d.int('auto_rotate_period');
      if (period !== 0 && period < 3600) return respond.userError('auto rotate period must be 0 to disable or at least an hour');
      next.autoRotatePeriod = period;
    }
    Object.assign(key, next);
    return warning ? respond.data(keyData(key), warning) : respond.data(keyData(key));
  }

  private async rotateKey(d: FieldData): Promise<Outcome> {
    const key = this.keys.get(d.string('name'));
    if (!key) return respond.userError('key not found');
    const version = await generateVersion(key.type, key.keySize);
    key.latestVersion += 1;
    key.versions.set(key.latestVersion, version);
    return respond.data(keyData(key));
  }

  private exportKey(d: FieldData): Outcome {
    const exportType = d.string('type');
    const exportTypes = ['encryption-key', 'signing-key', 'hmac-key', 'public-key', 'certificate-chain'];
    if (exportType === 'cmac-key') return respond.userError(ENTERPRISE_ONLY_TYPES['aes128-cmac']!);
    if (!exportTypes.includes(exportType)) return respond.userError(`invalid export type: ${exportType}`);
    const key = this.keys.get(d.string('name'));
    if (!key) return respond.none();
    if (!key.exportable && exportType !== 'public-key' && exportType !== 'certificate-chain') {
      return respond.userError('private key material is not exportable');
    }
    const traits = KEY_TYPES[key.type];
    if (exportType === 'encryption-key' && !traits.encryption) return respond.userError('encryption not supported for the key');
    if (exportType === 'signing-key' && !traits.signing) return respond.userError('signing not supported for the key');
    if (exportType === 'certificate-chain' && !traits.signing) return respond.userError('certificate chain not supported for keys that do not support signing');

    let selected: [number, KeyVersion][];
    const versionText = d.string('version');
    if (versionText === '') {
      selected = visibleVersions(key);
    } else {
      const number = versionText === 'latest' ? key.latestVersion : /^[+-]?\d+$/.test(versionText.replace(/^v/, '')) ? Number.parseInt(versionText.replace(/^v/, ''), 10) : Number.NaN;
      if (Number.isNaN(number)) return respond.userError('invalid key version');
      if (number < key.minDecryptionVersion) return respond.userError('version for export is below minimum decryption version');
      const version = key.versions.get(number);
      if (!version) return respond.userError('version does not exist or cannot be found');
      selected = [[number, version]];
    }
    const keys: Record<string, string> = {};
    for (const [number, version] of selected) {
      const material = exportMaterial(key, version, exportType);
      if (material instanceof Error) return respond.internalError(material.message);
      keys[String(number)] = material;
    }
    return respond.data({ name: key.name, type: key.type, keys });
  }

  private sign(d: FieldData): Outcome {
    this.stats.signRequests += 1;
    const args = signVerifyArgs(d);
    if (typeof args === 'string') return respond.userError(args);
    const key = this.keys.get(args.keyName);
    if (!key) return respond.userError('signing key not found');
    const refusal = signingRefusal(key, args);
    if (refusal) return respond.userError(refusal);

    const batchRaw = d.raw['batch_input'];
    const isBatch = batchRaw !== undefined && batchRaw !== null;
    let items: Record<string, string>[];
    if (isBatch) {
      const decoded = decodeSignBatch(batchRaw);
      if (typeof decoded === 'string') return respond.internalError(`failed to parse batch input: ${decoded}`);
      if (decoded.length === 0) return respond.userError('missing batch input to process');
      items = decoded;
      this.stats.signBatchItems += items.length;
    } else {
      items = [{ input: d.string('input'), context: d.string('context') }];
      if (d.has('signature_context')) items[0]!['signature_context'] = d.string('signature_context');
    }

    const keyVersion = d.int('key_version');
    const results = items.map((item) => this.signItem(key, args, keyVersion, item));
    if (isBatch) {
      return respond.data({
        batch_results: results.map((result, i) => ({ ...result.response, reference: items[i]!['reference'] ?? '' })),
      });
    }
    const [only] = results;
    if (only!.error) return only!.error.userError ? respond.userError(only!.error.message) : respond.internalError(only!.error.message);
    return respond.data(only!.response);
  }

  private signItem(
    key: TransitKey,
    args: SignVerifyArgs,
    requestedVersion: number,
    item: Record<string, string>,
  ): { response: Record<string, unknown>; error?: { message: string; userError: boolean } } {
    const failed = (message: string, userError: boolean) => ({ response: { key_version: 0, error: message }, error: { message, userError } });
    const rawInput = item['input'];
    if (rawInput === undefined) return failed('missing input', true);
    let input: Buffer;
    try {
      input = goBase64Decode(rawInput, 'std');
    } catch (error) {
      return failed(`unable to decode input: ${(error as Error).message}`, true);
    }
    const prepared = prepareInput(key, args, input);
    try {
      goBase64Decode(item['context'] ?? '', 'std');
    } catch {
      return failed('failed to base64-decode context', true);
    }
    const edRefusal = ed25519Refusal(key, args, item['signature_context'] ?? '');
    if (edRefusal) return failed(`failed to parse batch item: ${edRefusal}`, true);

    // Policy.SignWithOptions: every error from here on is a plain Go error, 500 outside a batch.
    let version = requestedVersion;
    if (version === 0) version = key.latestVersion;
    else if (version < 0) return failed('requested version for signing is negative', false);
    else if (version > key.latestVersion) return failed('requested version for signing is higher than the latest key version', false);
    else if (key.minEncryptionVersion > 0 && version < key.minEncryptionVersion) {
      return failed('requested version for signing is less than the minimum encryption key version', false);
    }
    const material = version >= key.minDecryptionVersion ? key.versions.get(version) : undefined;
    if (!material) return failed('no such key version', false);
    try {
      const signature = signBytes(key, material, args, prepared);
      const encoded = args.marshaling === 'asn1' ? signature.toString('base64') : base64UrlNoPad(signature);
      return { response: { signature: `vault:v${version}:${encoded}`, key_version: version } };
    } catch (error) {
      if (error instanceof PolicyError) return failed(error.message, false);
      return failed((error as Error).message, false);
    }
  }

  private verify(d: FieldData): Outcome {
    const batchRaw = d.raw['batch_input'];
    const isBatch = batchRaw !== undefined && batchRaw !== null;
    let items: Record<string, unknown>[];
    if (isBatch) {
      if (!Array.isArray(batchRaw)) return respond.userError(`failed to parse batch input: source data must be an array or slice, got ${goKind(batchRaw)}`);
      if (batchRaw.length === 0) return respond.userError('missing batch input to process');
      const notMaps = batchRaw.findIndex((item) => item === null || typeof item !== 'object' || Array.isArray(item));
      if (notMaps >= 0) return respond.userError(`failed to parse batch input: 1 error(s) decoding:\n\n* '[${notMaps}]' expected a map, got '${goKind(batchRaw[notMaps])}'`);
      items = batchRaw as Record<string, unknown>[];
    } else {
      const item: Record<string, unknown> = { input: d.string('input'), context: d.string('context') };
      for (const field of ['signature', 'hmac', 'cmac', 'signature_context']) if (d.has(field)) item[field] = d.string(field);
      items = [item];
    }

    let signatureFound = false;
    let macFound = false;
    let cmacFound = false;
    let missing = false;
    for (const item of items) {
      if ('signature' in item) signatureFound = true;
      else if ('hmac' in item) macFound = true;
      else if ('cmac' in item) cmacFound = true;
      else missing = true;
    }
    const kinds = [signatureFound, macFound, cmacFound].filter(Boolean).length;
    if (!isBatch && kinds > 1) return respond.userError("provide one of 'signature', 'hmac' or 'cmac'");
    if (!isBatch && kinds === 0) return respond.userError("missing one of 'signature', 'hmac' or 'cmac' arguments to verify");
    if (kinds > 1) return respond.userError("elements of batch_input must all provide either 'signature', 'hmac' or 'cmac'");
    if (missing && signatureFound) return respond.userError("some elements of batch_input are missing 'signature'");
    if (missing && macFound) return respond.userError("some elements of batch_input are missing 'hmac'");
    if (missing && cmacFound) return respond.userError("some elements of batch_input are missing 'cmac'");
    if (kinds === 0) return respond.userError("no batch_input elements have 'signature', 'hmac' or 'cmac'");
    if (macFound || cmacFound) {
      // Test-server limit: HMAC/CMAC verification is outside the signing subset.
      return respond.userError('hmac and cmac verification are not implemented by the transit test server');
    }

    const args = signVerifyArgs(d);
    if (typeof args === 'string') return respond.userError(args);
    const key = this.keys.get(args.keyName);
    if (!key) return respond.userError('signature verification key not found');
    const refusal = signingRefusal(key, args);
    if (refusal) return respond.userError(refusal);

    const results = items.map((item) => this.verifyItem(key, args, item));
    if (isBatch) {
      return respond.data({
        batch_results: results.map((result, i) => {
          const reference = items[i]!['reference'];
          let referenceText = '';
          try {
            referenceText = parseGoString(reference);
          } catch {
            // Vault drops a reference it cannot read as a string.
          }
          return { valid: result.valid, ...(result.error ? { error: result.error.message } : {}), reference: referenceText };
        }),
      });
    }
    const [only] = results;
    if (only!.error) return only!.error.userError ? respond.userError(only!.error.message) : respond.internalError(only!.error.message);
    return respond.data({ valid: only!.valid });
  }

  private verifyItem(key: TransitKey, args: SignVerifyArgs, item: Record<string, unknown>): { valid: boolean; error?: { message: string; userError: boolean } } {
    const failed = (message: string, userError: boolean) => ({ valid: false, error: { message, userError } });
    let input: Buffer;
    try {
      input = goBase64Decode(parseGoString(item['input']), 'std');
    } catch (error) {
      return failed(`failed to parse item: failed to parse input: ${(error as Error).message}`, true);
    }
    if (!('signature' in item)) return failed('failed to parse item: missing signature', true);
    let signatureText: string;
    try {
      signatureText = parseGoString(item['signature']);
    } catch (error) {
      return failed(`failed to parse item: failed to parse signature as a string: ${(error as Error).message}`, true);
    }
    const prepared = prepareInput(key, args, input);
    try {
      goBase64Decode(parseGoString(item['context']), 'std');
    } catch (error) {
      return failed(`failed to parse item: failed to parse context: ${(error as Error).message}`, true);
    }
    const signatureContext = item['signature_context'];
    if (signatureContext !== undefined && typeof signatureContext !== 'string') {
      return failed(`failed to parse item: failed to parse batch item: expected string for key="signature_context", got=${JSON.stringify(goFormat(signatureContext))}`, true);
    }
    const edRefusal = ed25519Refusal(key, args, signatureContext ?? '');
    if (edRefusal) return failed(`failed to parse item: failed to parse batch item: ${edRefusal}`, true);

    if (!signatureText.startsWith('vault:v')) return failed('invalid signature: no prefix', true);
    const rest = signatureText.slice('vault:v'.length);
    const separator = rest.indexOf(':');
    if (separator < 0) return failed('invalid signature: wrong number of fields', true);
    const versionText = rest.slice(0, separator);
    if (!/^[+-]?\d+$/.test(versionText)) return failed('invalid signature: version number could not be decoded', true);
    const version = Number.parseInt(versionText, 10);
    if (version > key.latestVersion) return failed('invalid signature: version is too new', true);
    if (key.minDecryptionVersion > 0 && version < key.minDecryptionVersion) {
      return failed('ciphertext or signature version is disallowed by policy (too old)', true);
    }
    let signature: Buffer;
    try {
      signature = goBase64Decode(rest.slice(separator + 1), args.marshaling === 'asn1' ? 'std' : 'raw-url');
    } catch {
      return failed('invalid base64 signature value', true);
    }
    const material = key.versions.get(version);
    if (!material) return failed('no such key version', true);
    try {
      return { valid: verifyBytes(key, material, args, prepared, signature) };
    } catch (error) {
      if (error instanceof PolicyError) return failed(error.message, error.userError);
      return failed((error as Error).message, false);
    }
  }
}

function goKind(value: unknown): string {
  if (Array.isArray(value)) return 'slice';
  if (value === null) return 'invalid';
  if (typeof value === 'object') return 'map';
  if (typeof value === 'number') return 'string'; // json.Number
  return typeof value;
}

/** mapstructure.Decode into []map[string]string, as the sign handler does (JSON numbers are json.Number, a string kind). */
function decodeSignBatch(raw: unknown): Record<string, string>[] | string {
  if (!Array.isArray(raw)) return `source data must be an array or slice, got ${goKind(raw)}`;
  const items: Record<string, string>[] = [];
  for (const [index, entry] of raw.entries()) {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      return `1 error(s) decoding:\n\n* '[${index}]' expected a map, got '${goKind(entry)}'`;
    }
    const item: Record<string, string> = {};
    for (const [field, value] of Object.entries(entry as Record<string, unknown>)) {
      if (value === null) item[field] = '';
      else if (typeof value === 'string' || typeof value === 'number') item[field] = String(value);
      else return `1 error(s) decoding:\n\n* '[${index}][${field}]' expected type 'string', got unconvertible type '${goTypeName(value)}', value: '${goFormat(value)}'`;
    }
    items.push(item);
  }
  return items;
}

/** getExportKey: material in Vault's formats (SEC1 / PKCS#1 PEM, Go's 64-byte Ed25519 private key, raw Ed25519 public key). */
function exportMaterial(key: TransitKey, version: KeyVersion, exportType: string): string | Error {
  const family = KEY_TYPES[key.type].family;
  switch (exportType) {
    case 'hmac-key':
      return version.hmacKey.toString('base64');
    case 'encryption-key':
      if (family === 'symmetric') return version.secret!.toString('base64');
      if (family === 'rsa') return version.privateKey!.export({ type: 'pkcs1', format: 'pem' }) as string;
      break;
    case 'signing-key':
      if (family === 'ecdsa') return (version.privateKey!.export({ type: 'sec1', format: 'pem' }) as string).trim();
      if (family === 'rsa') return version.privateKey!.export({ type: 'pkcs1', format: 'pem' }) as string;
      if (family === 'ed25519') {
        const jwk = version.privateKey!.export({ format: 'jwk' });
        return Buffer.concat([Buffer.from(jwk.d!, 'base64url'), Buffer.from(jwk.x!, 'base64url')]).toString('base64');
      }
      break;
    case 'public-key':
      if (family === 'ecdsa') return (version.publicKey!.export({ type: 'spki', format: 'pem' }) as string).trim();
      if (family === 'rsa') return version.publicKey!.export({ type: 'spki', format: 'pem' }) as string;
      if (family === 'ed25519') return ed25519Raw(version.publicKey!).toString('base64');
      break;
    case 'certificate-chain':
      // `keys/:name/set-certificate` is not part of this server, so no version ever has a chain.
      return new Error('selected key version does not have a certificate chain imported');
  }
  return new Error(`unknown key type ${key.type} for export type ${exportType}`);
}

// ---------------------------------------------------------------------------
// Tokens, AppRole, mounts

interface TokenRecord {
  readonly expiresAt: number | null;
  /** null: every path (root). */
  readonly policyPaths: readonly RegExp[] | null;
  readonly issuedToRoleId?: string;
  readonly lease: TokenLease;
}

/** What lookup-self shows and renew-self works from (Vault's TokenEntry and its lease entry). */
interface TokenLease {
  readonly accessor: string;
  /** Epoch milliseconds of creation (the lease's IssueTime). */
  readonly issuedAt: number;
  /** The TTL given at creation or login, in seconds; 0: no expiry. */
  readonly creationTtlSeconds: number;
  /** A renewal's TTL when no increment is asked (the role's token_ttl, or the creation TTL), in seconds. */
  readonly ttlSeconds: number;
  /** The role's token_max_ttl in seconds; 0: unset. */
  readonly maxTtlSeconds: number;
  readonly explicitMaxTtlSeconds: number;
  readonly periodSeconds: number;
  readonly renewable: boolean;
  readonly lastRenewalAt: number | null;
  readonly path: string;
  readonly displayName: string;
  readonly policies: readonly string[];
  readonly meta: Readonly<Record<string, string>> | null;
  readonly entityId: string;
}

interface AppRoleRecord {
  readonly roleId: string;
  readonly secretId: string | null;
  readonly roleName: string;
  readonly tokenTtlSeconds: number;
  readonly tokenMaxTtlSeconds: number;
  readonly tokenPeriodSeconds: number;
  readonly policies: readonly string[];
  readonly policyPaths: readonly string[] | null;
}

interface KubernetesRoleRecord {
  readonly name: string;
  jwts: Set<string>;
  readonly serviceAccountName: string;
  readonly serviceAccountNamespace: string;
  readonly serviceAccountUid: string;
  readonly tokenTtlSeconds: number;
  readonly tokenMaxTtlSeconds: number;
  readonly tokenPeriodSeconds: number;
  readonly policies: readonly string[];
  readonly policyPaths: readonly string[] | null;
}

/** Vault's system defaults (no mount tuning): default and max lease TTL are both 32 days. */
const SYSTEM_DEFAULT_TTL_SECONDS = 2_764_800;
const SYSTEM_MAX_TTL_SECONDS = 2_764_800;
/** Vault's `default` policy lets every token look itself up and renew itself. */
const DEFAULT_POLICY_PATHS = new Set(['auth/token/lookup-self', 'auth/token/renew-self']);

/** Go's time.Duration String() for whole seconds: "1h0m0s", "59m58s", "5s". */
function goDuration(seconds: number): string {
  if (seconds === 0) return '0s';
  const sign = seconds < 0 ? '-' : '';
  const total = Math.abs(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  if (h > 0) return `${sign}${h}h${m}m${sec}s`;
  if (m > 0) return `${sign}${m}m${sec}s`;
  return `${sign}${sec}s`;
}

/**
 * sdk/framework/lease.go CalculateTTL: the TTL a login or renewal grants.
 * Times are truncated to the second, as Vault does; the max TTL counts from
 * the token's issue time, so renewals cannot outrun it.
 */
function calculateTtl(lease: Pick<TokenLease, 'issuedAt' | 'ttlSeconds' | 'maxTtlSeconds' | 'explicitMaxTtlSeconds' | 'periodSeconds'>, incrementSeconds: number, nowMs: number): { ttl: number; warnings: string[] } | { error: string } {
  const now = Math.floor(nowMs / 1000);
  const start = Math.floor(lease.issuedAt / 1000);
  let maxTtl = SYSTEM_MAX_TTL_SECONDS;
  if (lease.maxTtlSeconds > 0 && lease.maxTtlSeconds < maxTtl) maxTtl = lease.maxTtlSeconds;
  if (lease.explicitMaxTtlSeconds > 0 && lease.explicitMaxTtlSeconds < maxTtl) maxTtl = lease.explicitMaxTtlSeconds;
  const warnings: string[] = [];
  let ttl: number;
  let maxValid: number | null = null;
  if (lease.periodSeconds > 0) {
    let period = lease.periodSeconds;
    if (period > maxTtl) {
      warnings.push(`period of "${goDuration(period)}" exceeded the effective max_ttl of "${goDuration(maxTtl)}"; period value is capped accordingly`);
      period = maxTtl;
    }
    ttl = period;
    if (lease.explicitMaxTtlSeconds > 0) maxValid = start + lease.explicitMaxTtlSeconds;
  } else {
    ttl = incrementSeconds > 0 ? incrementSeconds : lease.ttlSeconds > 0 ? lease.ttlSeconds : SYSTEM_DEFAULT_TTL_SECONDS;
    maxValid = start + maxTtl;
  }
  if (maxValid !== null) {
    const maxValidTtl = maxValid - now;
    if (maxValidTtl < 0) return { error: 'past the max TTL, cannot renew' };
    if (maxValidTtl - ttl < 0) {
      warnings.push(`TTL of "${goDuration(ttl)}" exceeded the effective max_ttl of "${goDuration(maxValidTtl)}"; TTL value is capped accordingly`);
      ttl = maxValidTtl;
    }
  }
  return { ttl, warnings };
}

/** Vault ACL path syntax, simplified: a trailing `*` is a prefix match, `+` one path segment. */
function policyPattern(path: string): RegExp {
  const glob = path.endsWith('*');
  const body = (glob ? path.slice(0, -1) : path)
    .split('+')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^/]+');
  return new RegExp(`^${body}${glob ? '.*' : ''}$`);
}

/** Mount paths Vault reserves; mounting over or under them conflicts. */
const RESERVED_MOUNTS = ['sys/', 'auth/', 'cubbyhole/', 'identity/'];

function randomToken(): string {
  return `hvs.${randomBytes(18).toString('base64url')}`;
}

// ---------------------------------------------------------------------------
// The server

export class TransitServer {
  readonly rootToken: string;
  /** Delay before each request is handled; change it at any time. */
  latencyMs: number;
  readonly stats: TransitServerStats = { requests: 0, signRequests: 0, signBatchItems: 0, logins: 0, renewals: 0 };

  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private port = 0;
  private isSealed = false;
  private readonly injectedErrors: InjectedVaultError[] = [];
  private readonly tokens = new Map<string, TokenRecord>();
  /** Transit mounts by path without the trailing slash. */
  private readonly engines = new Map<string, TransitEngine>();
  /** AppRole auth mounts (path under auth/) → role_id → role. */
  private readonly appRoles = new Map<string, Map<string, AppRoleRecord>>();
  /** Kubernetes auth mounts (path under auth/) → role name → role. */
  private readonly kubernetesRoles = new Map<string, Map<string, KubernetesRoleRecord>>();

  constructor(options: TransitServerOptions = {}) {
    this.rootToken = options.rootToken ?? randomToken();
    this.latencyMs = options.latencyMs ?? 0;
    this.tokens.set(this.rootToken, {
      expiresAt: null,
      policyPaths: null,
      lease: { ...tokenLease('auth/token/root', 'root', ['root'], 0, {}), renewable: false },
    });
    for (const mount of options.transitMounts ?? ['transit']) this.engines.set(mount.replace(/\/+$/, ''), new TransitEngine(this.stats));
  }

  /** Listens on 127.0.0.1 (the previous port after a `stop()`, else an ephemeral one) and returns `http://127.0.0.1:<port>`. */
  async start(): Promise<string> {
    if (this.server) return this.address;
    const server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) this.send(response, 500, { errors: [multierror(`internal test-server error: ${(error as Error).message}`)] });
        else response.destroy();
      });
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this.address;
  }

  /** Stops listening and destroys every open connection (keep-alive ones included); keys and tokens survive a later `start()`. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }

  close(): Promise<void> {
    return this.stop();
  }

  get address(): string {
    if (!this.server) throw new Error('transit test server is not started');
    return `http://127.0.0.1:${this.port}`;
  }

  /** Every request answers 503 (sys/health with its body and `sealed: true`) until `unseal()`. */
  seal(): void {
    this.isSealed = true;
  }

  unseal(): void {
    this.isSealed = false;
  }

  get sealed(): boolean {
    return this.isSealed;
  }

  /**
   * From now on, requests whose path matches answer `status` with `message`
   * in Vault's error envelope, before any token check or handler (the first
   * matching injection wins), until `clearInjectedErrors()`. For a back end
   * that fails with text of its own, which a test can then look for.
   */
  injectError(error: InjectedVaultError): void {
    this.injectedErrors.push(error);
  }

  clearInjectedErrors(): void {
    this.injectedErrors.length = 0;
  }

  addToken(token: string, options: TestTokenOptions = {}): void {
    const ttl = options.periodSeconds ?? options.ttlSeconds;
    this.tokens.set(token, {
      expiresAt: ttl === undefined ? null : Date.now() + ttl * 1000,
      policyPaths: options.policyPaths ? options.policyPaths.map(policyPattern) : null,
      lease: {
        ...tokenLease('auth/token/create', 'token', ['default'], ttl ?? 0, {
          explicitMaxTtlSeconds: options.explicitMaxTtlSeconds ?? 0,
          periodSeconds: options.periodSeconds ?? 0,
        }),
        renewable: options.renewable ?? true,
      },
    });
  }

  /** Registers a fresh random `hvs.` token and returns it. */
  createToken(options: TestTokenOptions = {}): string {
    const token = randomToken();
    this.addToken(token, options);
    return token;
  }

  /** Revoked tokens answer 403 "permission denied" + "invalid token", like expired ones. */
  revokeToken(token: string): void {
    this.tokens.delete(token);
  }

  /** Ends a token's life now, whatever lease the client was told. */
  expireToken(token: string): void {
    const record = this.tokens.get(token);
    if (record) this.tokens.set(token, { ...record, expiresAt: Date.now() - 1 });
  }

  /** When the server will expire a token (epoch milliseconds), null for no expiry, undefined for a token it does not know. */
  tokenExpiresAt(token: string): number | null | undefined {
    return this.tokens.get(token)?.expiresAt;
  }

  addAppRole(role: TestAppRole): void {
    const mount = (role.mountPath ?? 'approle').replace(/\/+$/, '');
    let roles = this.appRoles.get(mount);
    if (!roles) {
      roles = new Map();
      this.appRoles.set(mount, roles);
    }
    roles.set(role.roleId, {
      roleId: role.roleId,
      secretId: role.secretId ?? null,
      roleName: role.roleName ?? `role-${role.roleId.slice(0, 8)}`,
      tokenTtlSeconds: role.tokenTtlSeconds ?? 2_764_800,
      tokenMaxTtlSeconds: role.tokenMaxTtlSeconds ?? 0,
      tokenPeriodSeconds: role.tokenPeriodSeconds ?? 0,
      policies: role.policies ?? [],
      policyPaths: role.policyPaths ?? null,
    });
  }

  addKubernetesRole(role: TestKubernetesRole): void {
    const mount = (role.mountPath ?? 'kubernetes').replace(/\/+$/, '');
    let roles = this.kubernetesRoles.get(mount);
    if (!roles) {
      roles = new Map();
      this.kubernetesRoles.set(mount, roles);
    }
    roles.set(role.name, {
      name: role.name,
      jwts: new Set(role.jwts),
      serviceAccountName: role.serviceAccountName ?? 'ccm',
      serviceAccountNamespace: role.serviceAccountNamespace ?? 'ccm',
      serviceAccountUid: randomUUID(),
      tokenTtlSeconds: role.tokenTtlSeconds ?? 2_764_800,
      tokenMaxTtlSeconds: role.tokenMaxTtlSeconds ?? 0,
      tokenPeriodSeconds: role.tokenPeriodSeconds ?? 0,
      policies: role.policies ?? [],
      policyPaths: role.policyPaths ?? null,
    });
  }

  /** Replaces the JWTs a Kubernetes role accepts, as when Kubernetes rotates a projected service account token. */
  acceptKubernetesJwts(roleName: string, jwts: readonly string[], mountPath = 'kubernetes'): void {
    const role = this.kubernetesRoles.get(mountPath)?.get(roleName);
    if (!role) throw new Error(`no Kubernetes role ${roleName} at auth/${mountPath}`);
    role.jwts = new Set(jwts);
  }

  /** Tokens issued by Kubernetes logins of this role that the server still knows, oldest first. */
  kubernetesTokens(roleName: string, mountPath = 'kubernetes'): string[] {
    const id = `kubernetes:${mountPath}:${roleName}`;
    return [...this.tokens.entries()].filter(([, record]) => record.issuedToRoleId === id).map(([token]) => token);
  }

  /** Tokens issued by AppRole logins of this role that the server still knows, oldest first. */
  appRoleTokens(roleId: string): string[] {
    return [...this.tokens.entries()].filter(([, record]) => record.issuedToRoleId === roleId).map(([token]) => token);
  }

  resetStats(): void {
    Object.assign(this.stats, { requests: 0, signRequests: 0, signBatchItems: 0, logins: 0, renewals: 0 });
  }

  /** Key names in a Transit mount, sorted. */
  keyNames(mount = 'transit'): string[] {
    return [...(this.engines.get(mount)?.keys.keys() ?? [])].sort();
  }

  // -------------------------------------------------------------------------

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    this.stats.requests += 1;
    const body = await readBody(request);
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
    response.setHeader('Cache-Control', 'no-store');

    const url = new URL(request.url ?? '/', 'http://vault.invalid');
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      return this.send(response, 400, { errors: [] });
    }
    if (!path.startsWith('/v1/')) return this.send(response, 404, { errors: [] });
    path = path.slice('/v1/'.length);

    if (path === 'sys/health') return this.health(request, url, response);
    if (this.isSealed) return this.send(response, 503, { errors: [SEALED_MESSAGE] });
    const injected = this.injectedErrors.find((error) => error.path.test(path));
    if (injected) return this.send(response, injected.status, { errors: [injected.message] });

    let operation: Operation;
    let data: Record<string, unknown> = {};
    switch (request.method) {
      case 'GET': {
        const listText = url.searchParams.get('list') ?? '';
        let list = false;
        if (listText !== '') {
          const parsed = goParseBool(listText);
          if (parsed === undefined) return this.send(response, 400, { errors: [] });
          list = parsed;
        }
        operation = list ? 'list' : 'read';
        if (list) {
          if (!path.endsWith('/')) path += '/';
        } else {
          data = queryData(url);
        }
        break;
      }
      case 'POST':
      case 'PUT': {
        operation = 'update';
        if (body.length > 0) {
          let parsed: unknown;
          try {
            parsed = JSON.parse(body.toString('utf8'));
          } catch {
            return this.send(response, 400, { errors: ['error parsing JSON'] });
          }
          if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed))) return this.send(response, 400, { errors: ['error parsing JSON'] });
          data = (parsed ?? {}) as Record<string, unknown>;
        }
        if (path.endsWith('/')) return this.send(response, 400, { errors: ["cannot write to a path ending in '/'"] });
        break;
      }
      case 'DELETE':
        operation = 'delete';
        data = queryData(url);
        break;
      default:
        return this.send(response, 405, { errors: [] });
    }

    const login = /^auth\/(.+)\/login$/.exec(path);
    const roles = login ? this.appRoles.get(login[1]!) : undefined;
    if (roles) {
      const route: Route = {
        pattern: /^login$/,
        fields: { role_id: { type: 'string' }, secret_id: { type: 'string' } },
        handlers: { update: (d) => this.appRoleLogin(login![1]!, roles, d) },
      };
      return this.dispatch(response, [route], 'login', operation, data, 'approle');
    }
    const kubernetesRoles = login ? this.kubernetesRoles.get(login[1]!) : undefined;
    if (kubernetesRoles) {
      const mount = login![1]!;
      const route: Route = {
        pattern: /^login$/,
        fields: { role: { type: 'string' }, jwt: { type: 'string' } },
        handlers: { update: (d) => this.kubernetesLogin(mount, kubernetesRoles, d) },
      };
      return this.dispatch(response, [route], 'login', operation, data, 'kubernetes');
    }

    const refusal = this.authenticate(request, path);
    if (refusal) return this.send(response, 403, { errors: [refusal] });

    if (path.startsWith('auth/token/')) {
      const token = requestToken(request)!;
      const routes: Route[] = [
        { pattern: /^lookup-self$/, fields: {}, handlers: { read: () => this.lookupSelf(token) } },
        { pattern: /^renew-self$/, fields: { token: { type: 'string' }, increment: { type: 'duration' } }, handlers: { update: (d) => this.renewSelf(token, d) } },
      ];
      return this.dispatch(response, routes, path.slice('auth/token/'.length), operation, data, 'token');
    }

    const mountsRoute = /^sys\/mounts\/(.+)$/.exec(path);
    if (mountsRoute) {
      const route: Route = {
        pattern: /^(?<path>.+)$/,
        fields: {
          path: { type: 'string' },
          type: { type: 'string' },
          description: { type: 'string' },
          config: { type: 'map' },
          options: { type: 'map' },
          local: { type: 'bool' },
          seal_wrap: { type: 'bool' },
          external_entropy_access: { type: 'bool' },
          plugin_name: { type: 'string' },
          plugin_version: { type: 'string' },
        },
        handlers: { update: (d) => this.mount(d), delete: (d) => this.unmount(d) },
      };
      return this.dispatch(response, [route], mountsRoute[1]!, operation, data, 'system');
    }

    const mount = [...this.engines.keys()].filter((m) => path.startsWith(`${m}/`)).sort((a, b) => b.length - a.length)[0];
    if (mount !== undefined) {
      return this.dispatch(response, this.engines.get(mount)!.routes, path.slice(mount.length + 1), operation, data, 'transit');
    }
    const authMount = [...this.appRoles.keys(), ...this.kubernetesRoles.keys()].find((m) => path.startsWith(`auth/${m}/`));
    if (authMount !== undefined || path.startsWith('sys/')) {
      // A mount that exists but a route this server does not implement.
      return this.send(response, 404, { errors: [multierror('unsupported path')] });
    }
    return this.send(response, 404, { errors: [`no handler for route ${JSON.stringify(path)}. route entry not found.`] });
  }

  /** The refusal message for a request's token, or null when it may proceed. */
  private authenticate(request: IncomingMessage, path: string): string | null {
    const token = requestToken(request);
    if (!token) return 'permission denied';
    const record = this.tokens.get(token);
    if (!record) return multierror('permission denied', 'invalid token');
    if (record.expiresAt !== null && record.expiresAt <= Date.now()) {
      this.tokens.delete(token);
      return multierror('permission denied', 'invalid token');
    }
    if (record.policyPaths && !DEFAULT_POLICY_PATHS.has(path) && !record.policyPaths.some((pattern) => pattern.test(path))) return multierror('permission denied');
    return null;
  }

  private async dispatch(
    response: ServerResponse,
    routes: readonly Route[],
    relativePath: string,
    operation: Operation,
    data: Record<string, unknown>,
    mountType: string,
  ): Promise<void> {
    let route: Route | undefined;
    let match: RegExpExecArray | null = null;
    for (const candidate of routes) {
      match = candidate.pattern.exec(relativePath);
      if (match) {
        route = candidate;
        break;
      }
    }
    if (!route || !match) return this.send(response, 404, { errors: [multierror('unsupported path')] });
    const handler = route.handlers[operation];
    if (!handler) return this.send(response, 405, { errors: [multierror('unsupported operation')] });

    const captures = Object.fromEntries(Object.entries(match.groups ?? {}).filter(([, value]) => value !== undefined));
    const raw: Record<string, unknown> = { ...data };
    const ignored = Object.keys(data).filter((name) => !Object.hasOwn(route.fields, name)).sort();
    const replaced = Object.keys(captures).filter((name) => data[name] !== undefined && data[name] !== null).sort();
    Object.assign(raw, captures);
    const fields = new FieldData(raw, route.fields);
    const invalid = fields.validate();
    if (invalid) return this.send(response, 400, { errors: [invalid] });

    const outcome = await handler(fields);
    switch (outcome.kind) {
      case 'none':
        return operation === 'read' || operation === 'list' ? this.send(response, 404, { errors: [] }) : this.send(response, 204, null);
      case 'user-error':
        return this.send(response, 400, { errors: [outcome.message] });
      case 'internal-error':
        return this.send(response, outcome.status ?? 500, { errors: [multierror(outcome.message)] });
      case 'coded-error':
        return this.send(response, outcome.status, { errors: [outcome.message] });
      case 'data': {
        const warnings = [...outcome.warnings];
        if (ignored.length > 0) warnings.push(`Endpoint ignored these unrecognized parameters: [${ignored.join(' ')}]`);
        if (replaced.length > 0) warnings.push(`Endpoint replaced the value of these parameters with the values captured from the endpoint's path: [${replaced.join(' ')}]`);
        return this.send(response, 200, {
          request_id: randomUUID(),
          lease_id: '',
          renewable: false,
          lease_duration: 0,
          data: outcome.data === null ? null : sortKeys(outcome.data),
          wrap_info: null,
          warnings: warnings.length > 0 ? warnings : null,
          auth: outcome.auth ?? null,
          mount_type: mountType,
        });
      }
    }
  }

  private appRoleLogin(mount: string, roles: Map<string, AppRoleRecord>, d: FieldData): Outcome {
    const roleId = d.string('role_id').trim();
    if (roleId === '') return respond.userError('missing role_id');
    const role = roles.get(roleId);
    if (!role) return respond.userError('invalid role or secret ID');
    if (role.secretId !== null) {
      const secretId = d.string('secret_id').trim();
      if (secretId === '') return respond.userError('missing secret_id');
      if (secretId !== role.secretId) return respond.userError('invalid role or secret ID');
    }
    return this.issueLoginToken(role.roleId, `auth/${mount}/login`, 'approle', role, { role_name: role.roleName });
  }

  /**
   * kubernetes path_login.go: missing fields and unknown roles are 400s; a
   * JWT the TokenReview refuses is ErrPermissionDenied, which a login
   * answers as a bare 403 "permission denied" (vault-plugin-auth-kubernetes
   * issue #84 shows it with Content-Length 33, so not in multierror form).
   */
  private kubernetesLogin(mount: string, roles: Map<string, KubernetesRoleRecord>, d: FieldData): Outcome {
    const roleName = d.string('role');
    if (roleName === '') return respond.userError('missing role');
    const jwt = d.string('jwt');
    if (jwt === '') return respond.userError('missing jwt');
    const role = roles.get(roleName);
    if (!role) return respond.userError(`invalid role name ${JSON.stringify(roleName)}`);
    if (!role.jwts.has(jwt)) return { kind: 'coded-error', status: 403, message: 'permission denied' };
    return this.issueLoginToken(`kubernetes:${mount}:${role.name}`, `auth/${mount}/login`, `kubernetes-${role.serviceAccountNamespace}-${role.serviceAccountName}`, role, {
      role: role.name,
      service_account_name: role.serviceAccountName,
      service_account_namespace: role.serviceAccountNamespace,
      service_account_secret_name: '',
      service_account_uid: role.serviceAccountUid,
    });
  }

  /** The token of a successful login, in the auth block shape both login endpoints share. */
  private issueLoginToken(
    issuedTo: string,
    path: string,
    displayName: string,
    role: { readonly tokenTtlSeconds: number; readonly tokenMaxTtlSeconds: number; readonly tokenPeriodSeconds: number; readonly policies: readonly string[]; readonly policyPaths: readonly string[] | null },
    metadata: Record<string, string>,
  ): Outcome {
    const now = Date.now();
    const policies = ['default', ...role.policies];
    const lease: TokenLease = {
      ...tokenLease(path, displayName, policies, role.tokenTtlSeconds, { maxTtlSeconds: role.tokenMaxTtlSeconds, periodSeconds: role.tokenPeriodSeconds, meta: metadata }),
      entityId: randomUUID(),
      issuedAt: now,
    };
    // Test-server simplification kept from before: a role with token_ttl 0 and no period issues tokens without expiry.
    const granted = role.tokenTtlSeconds === 0 && role.tokenPeriodSeconds === 0 ? { ttl: 0, warnings: [] } : calculateTtl(lease, 0, now);
    if ('error' in granted) return respond.internalError(granted.error);
    const token = randomToken();
    this.tokens.set(token, {
      expiresAt: granted.ttl > 0 ? now + granted.ttl * 1000 : null,
      policyPaths: role.policyPaths ? role.policyPaths.map(policyPattern) : null,
      issuedToRoleId: issuedTo,
      lease: { ...lease, creationTtlSeconds: granted.ttl },
    });
    this.stats.logins += 1;
    return { kind: 'data', data: null, warnings: granted.warnings, auth: this.authBlock(token, lease, granted.ttl) };
  }

  /** token_store.go handleLookup, for the calling token. */
  private lookupSelf(token: string): Outcome {
    const record = this.tokens.get(token)!;
    const lease = record.lease;
    const now = Date.now();
    const data: Record<string, unknown> = {
      accessor: lease.accessor,
      creation_time: Math.floor(lease.issuedAt / 1000),
      creation_ttl: lease.creationTtlSeconds,
      display_name: lease.displayName,
      entity_id: lease.entityId,
      expire_time: record.expiresAt === null ? null : rfc3339Nano(new Date(record.expiresAt), 0),
      explicit_max_ttl: lease.explicitMaxTtlSeconds,
      id: token,
      issue_time: rfc3339Nano(new Date(lease.issuedAt), 0),
      meta: lease.meta,
      num_uses: 0,
      orphan: true,
      path: lease.path,
      policies: lease.policies,
      // leaseEntry.renewable: a lease without expiry is not renewable, whatever the token says.
      renewable: record.expiresAt !== null && lease.renewable,
      // leaseEntry.ttl: whole seconds from now rounded to the second.
      ttl: record.expiresAt === null ? 0 : Math.trunc((record.expiresAt - Math.round(now / 1000) * 1000) / 1000),
      type: 'service',
    };
    if (lease.periodSeconds > 0) data['period'] = lease.periodSeconds;
    if (lease.lastRenewalAt !== null) {
      data['last_renewal_time'] = Math.floor(lease.lastRenewalAt / 1000);
      data['last_renewal'] = rfc3339Nano(new Date(lease.lastRenewalAt), 0);
    }
    return respond.data(data);
  }

  /** token_store.go handleRenew → expiration.go RenewToken → CalculateTTL, for the calling token. */
  private renewSelf(token: string, d: FieldData): Outcome {
    const record = this.tokens.get(token)!;
    // leaseEntry.renewable(): an error response with ErrInvalidRequest, so 400 with the bare message.
    if (record.expiresAt === null || !record.lease.renewable) return respond.userError('lease is not renewable');
    const now = Date.now();
    const granted = calculateTtl(record.lease, d.int('increment'), now);
    if ('error' in granted) return respond.internalError(granted.error);
    const lease: TokenLease = { ...record.lease, lastRenewalAt: now };
    this.tokens.set(token, { ...record, expiresAt: now + granted.ttl * 1000, lease });
    this.stats.renewals += 1;
    return { kind: 'data', data: null, warnings: granted.warnings, auth: this.authBlock(token, lease, granted.ttl) };
  }

  private authBlock(token: string, lease: TokenLease, ttl: number): Record<string, unknown> {
    return {
      client_token: token,
      accessor: lease.accessor,
      policies: lease.policies,
      token_policies: lease.policies,
      metadata: lease.meta,
      lease_duration: ttl,
      renewable: lease.renewable,
      entity_id: lease.entityId,
      token_type: 'service',
      orphan: true,
      mfa_requirement: null,
      num_uses: 0,
    };
  }

  private mount(d: FieldData): Outcome {
    const path = `${d.string('path').replace(/\/+$/, '')}/`;
    const type = d.string('type');
    if (type === '') return respond.userError('backend type must be specified as a string');
    const existing = [...RESERVED_MOUNTS, ...[...this.engines.keys()].map((m) => `${m}/`), ...[...this.appRoles.keys(), ...this.kubernetesRoles.keys()].map((m) => `auth/${m}/`)];
    const conflict = existing.find((m) => path.startsWith(m) || m.startsWith(path));
    if (conflict) return respond.userError(`path is already in use at ${conflict}`);
    // Test-server limit: only the Transit engine exists here.
    if (type !== 'transit') return respond.userError(`plugin not found in the catalog: ${type}`);
    this.engines.set(path.slice(0, -1), new TransitEngine(this.stats));
    return respond.none();
  }

  private unmount(d: FieldData): Outcome {
    this.engines.delete(d.string('path').replace(/\/+$/, ''));
    return respond.none();
  }

  private health(request: IncomingMessage, url: URL, response: ServerResponse): void {
    if (request.method !== 'GET' && request.method !== 'HEAD') return this.send(response, 405, { errors: [] });
    for (const flag of ['standbyok', 'perfstandbyok']) {
      const value = url.searchParams.get(flag);
      if (value !== null && goParseBool(value) === undefined) return this.send(response, 400, { errors: [] });
    }
    const codes: Record<string, number> = { uninitcode: 501, sealedcode: 503, standbycode: 429, activecode: 200, drsecondarycode: 472, performancestandbycode: 473 };
    for (const name of Object.keys(codes)) {
      const value = url.searchParams.get(name);
      if (value === null) continue;
      if (!/^[+-]?\d+$/.test(value)) return this.send(response, 400, { errors: [] });
      codes[name] = Number.parseInt(value, 10);
    }
    const status = this.isSealed ? codes['sealedcode']! : codes['activecode']!;
    const body: Record<string, unknown> = {
      initialized: true,
      sealed: this.isSealed,
      standby: false,
      performance_standby: false,
      replication_performance_mode: 'disabled',
      replication_dr_mode: 'disabled',
      server_time_utc: Math.floor(Date.now() / 1000),
      version: VAULT_VERSION,
      enterprise: false,
      ...(this.isSealed ? {} : { cluster_name: 'vault-cluster-test', cluster_id: '00000000-0000-0000-0000-000000000000' }),
      echo_duration_ms: 0,
      clock_skew_ms: 0,
      replication_primary_canary_age_ms: 0,
    };
    if (request.method === 'HEAD') {
      response.setHeader('Content-Type', 'application/json');
      response.writeHead(status).end();
      return;
    }
    this.send(response, status, body);
  }

  private send(response: ServerResponse, status: number, body: unknown): void {
    response.setHeader('Content-Type', 'application/json');
    response.setHeader('Cache-Control', 'no-store');
    if (status === 204 || body === null) {
      response.writeHead(status).end();
      return;
    }
    response.writeHead(status).end(`${JSON.stringify(body)}\n`);
  }
}

/** `X-Vault-Token`, else `Authorization: Bearer` (fact sheet §1.3). */
function requestToken(request: IncomingMessage): string | undefined {
  const header = request.headers['x-vault-token'];
  const token = Array.isArray(header) ? header[0] : header;
  if (token) return token;
  const authorization = request.headers.authorization;
  if (authorization?.startsWith('Bearer ')) return authorization.slice('Bearer '.length).trim() || undefined;
  return undefined;
}

/** A token's lease facts at creation; logins override what their role sets. */
function tokenLease(path: string, displayName: string, policies: readonly string[], ttlSeconds: number, overrides: Partial<TokenLease>): TokenLease {
  return {
    accessor: randomBytes(18).toString('base64url'),
    issuedAt: Date.now(),
    creationTtlSeconds: ttlSeconds,
    ttlSeconds,
    maxTtlSeconds: 0,
    explicitMaxTtlSeconds: 0,
    periodSeconds: 0,
    renewable: true,
    lastRenewalAt: null,
    path,
    displayName,
    policies,
    meta: null,
    entityId: '',
    ...overrides,
  };
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** Vault's parseQuery: a single value stays a string, repeats become a list; `list` and `help` are reserved. */
function queryData(url: URL): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const name of new Set(url.searchParams.keys())) {
    if (name === 'list' || name === 'help') continue;
    const values = url.searchParams.getAll(name);
    data[name] = values.length === 1 ? values[0] : values;
  }
  return data;
}

/** Go marshals maps with sorted keys; mirroring it keeps raw-body assertions stable. */
function sortKeys(value: Record<string, unknown>): Record<string, unknown> {
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const entry = value[key];
    sorted[key] = entry !== null && typeof entry === 'object' && !Array.isArray(entry) && !Buffer.isBuffer(entry) ? sortKeys(entry as Record<string, unknown>) : entry;
  }
  return sorted;
}

/** Public key of a server signature check: PEM for EC/RSA, raw 32 bytes (base64) for Ed25519, as Vault returns them. */
export function publicKeyFromVault(type: string, publicKey: string): KeyObject {
  if (type === 'ed25519') {
    const raw = Buffer.from(publicKey, 'base64');
    return createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]), format: 'der', type: 'spki' });
  }
  return createPublicKey(publicKey);
}
