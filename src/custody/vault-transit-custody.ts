/**
 * Vault custody: the production adapter. CA keys are non-exportable keys of
 * HashiCorp Vault's Transit engine; ccm builds every TBS structure itself and
 * asks Vault to sign the bytes. The HTTP contract it relies on is
 * shared/vault/transit-api.md; requests go through node-vault with every
 * option explicit, so VAULT_* variables of the host never steer it, except
 * signing, which has its own kept-alive client (vault-sign-client.ts).
 *
 * Concurrent signatures with one key leave together as one Transit
 * `batch_input` request (shared/coalescer.ts): a signature alone goes out at
 * once, in the plain `input` form, unless a batch wait is set; while a key
 * has SIGN_BATCHES_IN_FLIGHT_PER_KEY requests out, the next ones queue and
 * share the following request, up to the batch size.
 */
import { createPublicKey } from 'node:crypto';
import NodeVault from 'node-vault';
import { Coalescer } from '../shared/coalescer.js';
import { CustodyError, CustodyKeyNotFound, CustodyUnavailable, DomainError } from '../shared/errors.js';
import { isRsa, signatureSchemeFor, type KeyAlgorithm } from '../codec/key-algorithm.js';
import type { Clock } from '../shared/clock.js';
import { KeyCustody, type CustodyKey, type CustodyReadiness } from './key-custody.js';
import { VaultSignClient } from './vault-sign-client.js';
import { VaultTokenSession, type VaultAuth } from './vault-token-session.js';

export type { VaultAuth } from './vault-token-session.js';

export interface VaultTransitCustodyOptions {
  /** Vault's base address, e.g. `https://vault:8200` (without `/v1`). */
  readonly address: string;
  /** Mount path of the Transit engine; `transit` when omitted. */
  readonly mountPath?: string;
  /** Put in front of every key name, so that a Vault policy can grant ccm its own keys only. */
  readonly keyPrefix: string;
  readonly auth: VaultAuth;
  /** Timeout of one HTTP request to Vault; 5 s when omitted. */
  readonly requestTimeoutMs?: number;
  /** PEM of the CA that signed Vault's TLS certificate, when it is not in Node's trust store. */
  readonly caCertPem?: string;
  /** Most signatures in one Transit request; 1 sends every signature alone. DEFAULT_SIGN_BATCH_SIZE when omitted. */
  readonly signBatchSize?: number;
  /** How long a lone signature waits for others to share its request, in milliseconds; 0 (it does not wait) when omitted. */
  readonly signBatchWaitMs?: number;
  /**
   * Times token leases (expiry, when to renew); real time when omitted. Not
   * the application's clock: Vault expires tokens in real time, whatever
   * time a test has frozen certificates at.
   */
  readonly clock?: Clock;
  /** Told the number of inputs of every sign request sent (1 for one sent alone): for the metrics. */
  readonly onSignBatch?: (size: number) => void;
}

export interface VaultHealth {
  /** Only meaningful when `reachable`; an unreachable Vault reports `sealed: false`. */
  readonly sealed: boolean;
  readonly reachable: boolean;
}

/** Our key algorithms happen to carry Vault's type names; the table keeps that a decision, not an accident. */
const VAULT_KEY_TYPE: Readonly<Record<KeyAlgorithm, string>> = {
  'ecdsa-p256': 'ecdsa-p256',
  'ecdsa-p384': 'ecdsa-p384',
  ed25519: 'ed25519',
  'rsa-2048': 'rsa-2048',
  'rsa-3072': 'rsa-3072',
  'rsa-4096': 'rsa-4096',
};

const ALGORITHM_OF_VAULT_TYPE = new Map(Object.entries(VAULT_KEY_TYPE).map(([algorithm, type]) => [type, algorithm as KeyAlgorithm]));

/** Transit key names (shared/vault/transit-api.md §1.7); anything else would hit "unsupported path". */
const TRANSIT_KEY_NAME = /^\w(?:[\w.-]*\w)?$/;

/** id-Ed25519 SubjectPublicKeyInfo header (RFC 8410): Vault returns the 32 raw key bytes only. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

const DEFAULT_TIMEOUT_MS = 5000;
export const DEFAULT_SIGN_BATCH_SIZE = 64;
/**
 * Sign requests one key may have out at once. Batches fill only while this
 * limit holds signatures back, and a request costs both sides several
 * ECDSA signatures' worth of CPU, so the limit is small. Not 1: Vault signs
 * the items of one batch one after another but serves requests in parallel
 * (it takes only a read lock on the key), so with two out, a second Vault
 * core works and the next batch is already on its way while the answer to
 * the first travels back. That matters for RSA keys, whose signatures cost
 * more than the request.
 */
const SIGN_BATCHES_IN_FLIGHT_PER_KEY = 2;
/**
 * Larger inputs (a CRL with many entries is megabytes) are signed alone:
 * their own signing cost dwarfs a request's, and 64 of them in one body
 * could pass Vault's max_request_size (32 MiB by default).
 */
const LARGEST_BATCHED_INPUT_BYTES = 64 * 1024;
const KEY_CREATION_TIMEOUT_MS = 60_000;
/**
 * The Transit key version ccm signs with and reads the public key of: the
 * first, the one ccm created. A CA certificate certifies one public key, so
 * a `rotate` in Vault must not change what ccm signs with (Vault's default,
 * the latest version, would make every later signature fail to verify under
 * the certificate). Rotating a CA's key in ccm means a new key and a new CA
 * certificate, never a new version of the same Transit key.
 */
const CA_KEY_VERSION = 1;

interface VaultKeyData {
  readonly type?: unknown;
  readonly exportable?: unknown;
  readonly latest_version?: unknown;
  readonly keys?: unknown;
}

export class VaultTransitCustody extends KeyCustody {
  readonly kind = 'vault';
  private readonly vault: NodeVault.client;
  private readonly signClient: VaultSignClient;
  private readonly mountPath: string;
  private readonly signBatchSize: number;
  private readonly signBatchWaitMs: number;
  /** One per key and algorithm: a Transit batch signs with one key, and its items share one set of parameters. */
  private readonly signBatches = new Map<string, Coalescer<string, Uint8Array>>();
  /** Keys seen by this process; a key's algorithm never changes, and sign needs it to pick Vault's parameters. */
  private readonly known = new Map<string, CustodyKey>();
  private readonly auth: VaultTokenSession;

  constructor(private readonly options: VaultTransitCustodyOptions) {
    super();
    this.mountPath = (options.mountPath ?? 'transit').replace(/^\/+|\/+$/g, '');
    this.signBatchSize = options.signBatchSize ?? DEFAULT_SIGN_BATCH_SIZE;
    this.signBatchWaitMs = options.signBatchWaitMs ?? 0;
    if (!Number.isInteger(this.signBatchSize) || this.signBatchSize < 1) throw new RangeError('signBatchSize must be an integer of at least 1');
    if (!Number.isInteger(this.signBatchWaitMs) || this.signBatchWaitMs < 0) throw new RangeError('signBatchWaitMs must be an integer of at least 0');
    this.vault = NodeVault({
      endpoint: options.address.replace(/\/+$/, ''),
      apiVersion: 'v1',
      // Node's HTTP stack cannot carry Vault's LIST verb; `GET ?list=1` is the portable form.
      noCustomHTTPVerbs: true,
      // node-vault's debug output would include request bodies, AppRole secret_id among them.
      debug: () => undefined,
      requestOptions: {
        timeout: options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS,
        // Explicit, so that VAULT_SKIP_VERIFY in the environment cannot switch TLS verification off.
        strictSSL: true,
        ...(options.caCertPem ? { ca: options.caCertPem } : {}),
      },
    });
    // node-vault falls back to VAULT_TOKEN, VAULT_PREFIX and VAULT_NAMESPACE for
    // empty options; clear them so only what this adapter sends reaches Vault.
    // The token travels per request instead (see `request`).
    this.vault.token = '';
    Object.assign(this.vault, { pathPrefix: '', namespace: '' });
    this.signClient = new VaultSignClient({
      address: options.address,
      timeoutMs: options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      ...(options.caCertPem ? { caCertPem: options.caCertPem } : {}),
    });
    this.auth = new VaultTokenSession(
      options.auth,
      {
        // Plain writes and reads, not node-vault's approleLogin()/tokenRenewSelf(): the token travels per request and client.token stays empty.
        write: (path, body, token) => this.vault.write(path, body, token === undefined ? undefined : { headers: { 'X-Vault-Token': token } }),
        read: (path, token) => this.vault.read(path, { headers: { 'X-Vault-Token': token } }),
        failure: (error, what) => this.failure(error, what),
      },
      options.clock,
    );
  }

  /** Starts the token upkeep (lookup or login, then renewal) in the background; the process serves even while Vault is away. */
  start(): void {
    this.auth.start();
  }

  /** Stops token renewal and closes the kept-alive signing connections. */
  override close(): void {
    this.auth.close();
    this.signClient.close();
  }

  async createKey(name: string, algorithm: KeyAlgorithm): Promise<CustodyKey> {
    const path = `${this.mountPath}/keys/${this.vaultName(name)}`;
    const what = `creating key ${name}`;
    let data: VaultKeyData | undefined;
    try {
      // Vault returns the existing key unchanged (plus a warning) when the name is taken, so this is idempotent.
      // Vault generates the key before it answers: RSA-4096 takes seconds on a busy server, so creation gets a longer deadline than signing.
      const timeout = Math.max(this.options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS, KEY_CREATION_TIMEOUT_MS);
      const response: unknown = await this.request((requestOptions) => this.vault.write(path, { type: VAULT_KEY_TYPE[algorithm], exportable: false }, { ...requestOptions, timeout }));
      data = envelopeData(response);
      // Releases before the key-read answer replied 204 with no body.
      if (!data) data = envelopeData(await this.request((requestOptions) => this.vault.read(path, requestOptions)));
    } catch (error) {
      throw this.failure(error, what);
    }
    if (!data) throw new CustodyError(`Vault answered ${what} without the key`);
    if (data.type !== VAULT_KEY_TYPE[algorithm]) {
      throw new CustodyError(`key ${name} already exists in Vault as ${String(data.type)}, not ${algorithm}`);
    }
    if (data.exportable !== false) {
      // Someone else created it exportable; custody's promise is that private keys never leave Vault.
      throw new CustodyError(`key ${name} exists in Vault but is exportable; ccm only uses non-exportable keys`);
    }
    return this.remember(name, data);
  }

  async getKey(name: string): Promise<CustodyKey> {
    const path = `${this.mountPath}/keys/${this.vaultName(name)}`;
    let data: VaultKeyData | undefined;
    try {
      data = envelopeData(await this.request((requestOptions) => this.vault.read(path, requestOptions)));
    } catch (error) {
      if (statusOf(error) === 404) throw new CustodyKeyNotFound(name);
      throw this.failure(error, `reading key ${name}`);
    }
    if (!data) throw new CustodyError(`Vault answered reading key ${name} without the key`);
    return this.remember(name, data);
  }

  async sign(name: string, data: Uint8Array): Promise<Uint8Array> {
    const key = this.known.get(name) ?? (await this.getKey(name));
    const input = Buffer.from(data).toString('base64');
    if (this.signBatchSize === 1 || data.length > LARGEST_BATCHED_INPUT_BYTES) {
      this.options.onSignBatch?.(1);
      return this.signAlone(name, key.algorithm, input);
    }
    return this.signBatchOf(name, key.algorithm).submit(input);
  }

  private signBatchOf(name: string, algorithm: KeyAlgorithm): Coalescer<string, Uint8Array> {
    const id = `${algorithm}:${name}`;
    let batch = this.signBatches.get(id);
    if (!batch) {
      batch = new Coalescer<string, Uint8Array>({
        maxBatch: this.signBatchSize,
        maxInFlight: SIGN_BATCHES_IN_FLIGHT_PER_KEY,
        lingerMs: this.signBatchWaitMs,
        ...(this.options.onSignBatch ? { onBatch: this.options.onSignBatch } : {}),
        run: async (inputs) => (inputs.length === 1 ? [await this.signAlone(name, algorithm, inputs[0]!)] : this.signTogether(name, algorithm, inputs)),
      });
      this.signBatches.set(id, batch);
    }
    return batch;
  }

  /** One signature in the plain `input` form: the request ccm always sent, with the same failures. */
  private async signAlone(name: string, algorithm: KeyAlgorithm, input: string): Promise<Uint8Array> {
    const path = `${this.mountPath}/sign/${this.vaultName(name)}`;
    const body = { input, ...signParameters(algorithm) };
    let response: unknown;
    try {
      response = await this.request((requestOptions) => this.signClient.post(path, body, requestOptions));
    } catch (error) {
      throw await this.signFailure(error, name);
    }
    const signature = signatureBytes(name, (envelopeData(response) as { signature?: unknown } | undefined)?.signature);
    if (signature instanceof Error) throw signature;
    return signature;
  }

  /**
   * Several signatures in one `batch_input` request. A failed request fails
   * every item the way a lone signature fails; an item Vault could not sign
   * carries its own error in `batch_results` and fails alone.
   */
  private async signTogether(name: string, algorithm: KeyAlgorithm, inputs: readonly string[]): Promise<(Uint8Array | Error)[]> {
    const path = `${this.mountPath}/sign/${this.vaultName(name)}`;
    const body = { batch_input: inputs.map((input) => ({ input })), ...signParameters(algorithm) };
    let response: unknown;
    try {
      response = await this.request((requestOptions) => this.signClient.post(path, body, requestOptions));
    } catch (error) {
      throw await this.signFailure(error, name);
    }
    const results = (envelopeData(response) as { batch_results?: unknown } | undefined)?.batch_results;
    if (!Array.isArray(results) || results.length !== inputs.length) {
      throw new CustodyError(`Vault answered ${inputs.length} signatures with key ${name} with ${Array.isArray(results) ? results.length : 'no'} results`);
    }
    return results.map((result: unknown) => {
      const item = result as { signature?: unknown; error?: unknown } | null;
      if (typeof item?.error === 'string' && item.error !== '') return new CustodyError(`Vault refused signing with key ${name}: ${item.error}`);
      return signatureBytes(name, item?.signature);
    });
  }

  private async signFailure(error: unknown, name: string): Promise<DomainError> {
    if (statusOf(error) === 400) {
      // A missing key is a 400 on this path ("signing key not found"), like any
      // other refusal; a read tells the two apart by status instead of by text.
      this.known.delete(name);
      await this.getKey(name);
    }
    return this.failure(error, `signing with key ${name}`);
  }

  /** For readiness: sys/health is unauthenticated and answers (with a body) even when sealed. */
  async health(): Promise<VaultHealth> {
    try {
      const body: unknown = await this.vault.health();
      const sealed = (body as { sealed?: unknown } | null)?.sealed;
      if (typeof sealed !== 'boolean') return { sealed: false, reachable: false };
      return { sealed, reachable: true };
    } catch {
      return { sealed: false, reachable: false };
    }
  }

  /** sys/health plus what the token upkeep last learnt: no login and no token check per probe. */
  async readiness(): Promise<CustodyReadiness> {
    const health = await this.health();
    if (!health.reachable) return { ready: false, reason: `Vault at ${this.options.address} did not answer` };
    if (health.sealed) return { ready: false, reason: 'Vault is sealed' };
    const problem = this.auth.authProblem();
    if (problem !== null) return { ready: false, reason: problem };
    return { ready: true };
  }

  private vaultName(name: string): string {
    const vaultName = `${this.options.keyPrefix}${name}`;
    if (!TRANSIT_KEY_NAME.test(vaultName)) {
      throw new CustodyError(`key name ${JSON.stringify(name)} cannot be a Vault Transit key name (letters, digits, "_", and "-" or "." inside)`);
    }
    return vaultName;
  }

  private remember(name: string, data: VaultKeyData): CustodyKey {
    const algorithm = typeof data.type === 'string' ? ALGORITHM_OF_VAULT_TYPE.get(data.type) : undefined;
    if (!algorithm) throw new CustodyError(`key ${name} has Vault type ${String(data.type)}, which ccm cannot sign with`);
    const versions = data.keys as Record<string, { public_key?: unknown } | undefined> | undefined;
    const publicKey = versions?.[String(CA_KEY_VERSION)]?.public_key;
    if (typeof publicKey !== 'string' || publicKey === '') {
      throw new CustodyError(`Vault returned no public key for version ${CA_KEY_VERSION} of key ${name} (archived or trimmed?); ccm's certificates certify that version`);
    }
    const key: CustodyKey = { name, algorithm, publicKeyDer: spkiOf(name, algorithm, publicKey) };
    this.known.set(name, key);
    return key;
  }

  /**
   * Sends one request with the current token. A 403 goes to the token
   * session: a login token is replaced by a new login and the request sent
   * once more; a static token has no replacement, and the 403 stands.
   */
  private async request<T>(send: (requestOptions: { headers: Record<string, string> }) => Promise<T>): Promise<T> {
    const token = await this.auth.token();
    try {
      return await send({ headers: { 'X-Vault-Token': token } });
    } catch (error) {
      if (statusOf(error) !== 403) throw error;
      const fresh = await this.auth.refused(token, vaultMessage(error));
      if (fresh === null) throw error;
      return send({ headers: { 'X-Vault-Token': fresh } });
    }
  }

  /**
   * The domain error for a failed Vault call. Messages carry Vault's text,
   * its address and the key name, never the token or key material: they are
   * for the operator's log (the request's log line, the token upkeep's
   * lines), while an HTTP caller gets the fixed sentence of the error's kind.
   */
  private failure(error: unknown, what: string): DomainError {
    if (error instanceof DomainError) return error;
    const status = statusOf(error);
    if (status === undefined) {
      const code = transportCode(error);
      if (code !== undefined) {
        // The raw axios error holds the request headers, token included: keep only its code.
        return new CustodyUnavailable(`Vault at ${this.options.address} did not answer ${what}: ${code}`, { cause: new Error(code) });
      }
      return new CustodyError(`${what} failed before reaching Vault: ${error instanceof Error ? error.message : String(error)}`);
    }
    const message = vaultMessage(error);
    if (status === 503) return new CustodyUnavailable(`Vault is sealed or unavailable (${what}): ${message}`);
    return new CustodyError(`Vault refused ${what} with status ${status}: ${message}`);
  }
}

/** Request parameters matching the signatureAlgorithm ccm writes (transit-api.md §7.5); Vault's defaults (sha2-256, PSS) are never relied on. */
function signParameters(algorithm: KeyAlgorithm): Record<string, string | number> {
  const hash = signatureSchemeFor(algorithm).hash;
  if (hash === null) return { marshaling_algorithm: 'asn1', key_version: CA_KEY_VERSION };
  const parameters: Record<string, string | number> = { hash_algorithm: hash === 'sha256' ? 'sha2-256' : 'sha2-384', marshaling_algorithm: 'asn1', key_version: CA_KEY_VERSION };
  if (isRsa(algorithm)) parameters['signature_algorithm'] = 'pkcs1v15';
  return parameters;
}

/** DER SubjectPublicKeyInfo of a Vault public key, checked against the algorithm Vault claims for it. */
function spkiOf(name: string, algorithm: KeyAlgorithm, publicKey: string): Uint8Array {
  let spki: Buffer;
  if (algorithm === 'ed25519') {
    const raw = Buffer.from(publicKey, 'base64');
    if (raw.length !== 32) throw new CustodyError(`Vault returned a malformed Ed25519 public key for key ${name}`);
    spki = Buffer.concat([ED25519_SPKI_PREFIX, raw]);
  } else {
    try {
      spki = createPublicKey(publicKey).export({ type: 'spki', format: 'der' });
    } catch {
      throw new CustodyError(`Vault returned a public key for key ${name} that is not a PEM SubjectPublicKeyInfo`);
    }
  }
  const details = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  const expected: Record<KeyAlgorithm, (k: typeof details) => boolean> = {
    'ecdsa-p256': (k) => k.asymmetricKeyDetails?.namedCurve === 'prime256v1',
    'ecdsa-p384': (k) => k.asymmetricKeyDetails?.namedCurve === 'secp384r1',
    ed25519: (k) => k.asymmetricKeyType === 'ed25519',
    'rsa-2048': (k) => k.asymmetricKeyType === 'rsa' && k.asymmetricKeyDetails?.modulusLength === 2048,
    'rsa-3072': (k) => k.asymmetricKeyType === 'rsa' && k.asymmetricKeyDetails?.modulusLength === 3072,
    'rsa-4096': (k) => k.asymmetricKeyType === 'rsa' && k.asymmetricKeyDetails?.modulusLength === 4096,
  };
  if (!expected[algorithm](details)) throw new CustodyError(`Vault's public key for key ${name} does not match its type ${algorithm}`);
  return new Uint8Array(spki);
}

/** The bytes of a `vault:v<N>:<base64>` signature (asn1 marshaling: standard base64). */
function signatureBytes(name: string, signature: unknown): Uint8Array | CustodyError {
  const match = typeof signature === 'string' ? /^vault:v\d+:([A-Za-z0-9+/]*={0,2})$/.exec(signature) : null;
  if (!match || match[1]!.length % 4 !== 0) return new CustodyError(`Vault answered signing with key ${name} with an unexpected signature format`);
  return new Uint8Array(Buffer.from(match[1]!, 'base64'));
}

function envelopeData(response: unknown): VaultKeyData | undefined {
  const data = (response as { data?: unknown } | null | undefined)?.data;
  return data !== null && typeof data === 'object' ? (data as VaultKeyData) : undefined;
}

/** node-vault's ApiResponseError carries `response.statusCode`; transport errors do not. */
function statusOf(error: unknown): number | undefined {
  const status = (error as { response?: { statusCode?: unknown } } | null)?.response?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** ECONNREFUSED, ECONNABORTED (timeout), ETIMEDOUT, TLS failures…: axios errors that never got an answer. */
function transportCode(error: unknown): string | undefined {
  const candidate = error as { isAxiosError?: unknown; code?: unknown } | null;
  if (candidate?.isAxiosError !== true && typeof candidate?.code !== 'string') return undefined;
  return typeof candidate.code === 'string' ? candidate.code : 'no response';
}

/** Vault's error list as one line; plain Go errors arrive wrapped as "1 error occurred:\n\t* …\n\n". */
function vaultMessage(error: unknown): string {
  const errors = (error as { response?: { body?: { errors?: unknown } } }).response?.body?.errors;
  const texts = Array.isArray(errors) ? errors.filter((e): e is string => typeof e === 'string') : [];
  const items = texts.flatMap((text) => {
    const wrapped = /^\d+ errors? occurred:\n([\s\S]*)$/.exec(text);
    if (!wrapped) return [text.trim()];
    return wrapped[1]!
      .split('\n')
      .map((line) => line.replace(/^\t\* /, '').trim())
      .filter((line) => line !== '');
  });
  return items.length > 0 ? items.join('; ') : 'no error message';
}
