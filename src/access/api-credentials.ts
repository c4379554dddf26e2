/**
 * Creating, listing and revoking API credentials, and turning a presented
 * bearer key into an Actor. An administrator manages every key; a tenant key
 * may manage only its own tenant's tenant keys (never mint an administrator
 * or broker key). The bootstrap administrator key comes from configuration
 * and is not a record: it cannot be revoked through the API, only replaced in
 * the configuration.
 */
import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Clock } from '../shared/clock.js';
import { Forbidden, InvalidRequest, NotFound, Unauthorized } from '../shared/errors.js';
import { newId } from '../shared/identifiers.js';
import { TenantRepository } from '../tenants/tenant.js';
import { assertTenantVisible, BOOTSTRAP_ADMINISTRATOR, visibleTenantFilter, type Actor, type Role } from './actor.js';
import { ApiCredentialRepository, newApiKey, parseApiKey, secretMatches, type ApiCredential, type ApiCredentialFilter } from './api-credential.js';
import { BootstrapAdministratorKey } from './bootstrap-administrator-key.js';

export interface CreateApiCredentialCommand {
  readonly name: string;
  readonly role: Role;
  readonly tenantId?: string;
}

/** last_used_at tells an operator which keys are in use; it needs no finer resolution than this. */
const LAST_USE_RESOLUTION_MS = 60_000;
/**
 * A verified credential is remembered this long, so the hot paths (device
 * authentication) do not read the database for every request. A revocation
 * takes effect at once on the replica that made it, within this time on others.
 */
const VERIFIED_CACHE_MS = 5_000;
const VERIFIED_CACHE_SIZE = 10_000;

@Injectable()
export class ApiCredentials {
  private readonly verified = new Map<string, { credential: ApiCredential; until: number }>();

  constructor(
    private readonly credentials: ApiCredentialRepository,
    private readonly tenants: TenantRepository,
    private readonly bootstrap: BootstrapAdministratorKey,
    private readonly clock: Clock,
  ) {}

  /** The key is in this answer only. */
  async create(actor: Actor, command: CreateApiCredentialCommand): Promise<{ credential: ApiCredential; key: string }> {
    const tenantId = await this.tenantOfNewCredential(actor, command);
    const now = this.clock.now();
    const id = newId(now.getTime());
    const { key, secretHash } = newApiKey(id);
    const credential: ApiCredential = { id, name: command.name, role: command.role, tenantId, secretHash, createdAt: now, createdBy: actor.credentialId, revokedAt: null, lastUsedAt: null };
    await this.credentials.insert(credential);
    return { credential, key };
  }

  list(actor: Actor, filter: ApiCredentialFilter): Promise<ApiCredential[]> {
    const tenantId = visibleTenantFilter(actor, filter.tenantId);
    return this.credentials.list({ ...filter, ...(tenantId !== undefined ? { tenantId } : {}) });
  }

  async get(actor: Actor, id: string): Promise<ApiCredential> {
    const credential = await this.credentials.findById(id);
    if (!credential || (actor.role === 'tenant' && credential.tenantId !== actor.tenantId)) throw new NotFound('API credential');
    return credential;
  }

  async revoke(actor: Actor, id: string): Promise<ApiCredential> {
    await this.get(actor, id);
    if (!(await this.credentials.revoke(id, this.clock.now()))) throw new NotFound('API credential');
    this.verified.delete(id);
    return (await this.credentials.findById(id))!;
  }

  /**
   * The actor behind an Authorization header. Every refusal is the same 401,
   * so a caller learns nothing about which part of a key was wrong.
   */
  async authenticate(authorization: string | undefined): Promise<Actor> {
    const match = authorization === undefined ? null : /^Bearer +(\S+) *$/i.exec(authorization);
    if (!match) throw new Unauthorized('an API key is required: Authorization: Bearer <key>', 'Bearer');
    const presented = match[1]!;
    if (this.bootstrap.matches(presented)) return BOOTSTRAP_ADMINISTRATOR;
    const parsed = parseApiKey(presented);
    const credential = parsed ? await this.verifiedCredential(parsed.id) : null;
    // Compare even when there is no record, so the answer takes as long either way.
    const matches = secretMatches(parsed?.secret ?? presented, credential?.secretHash ?? UNMATCHABLE);
    if (!credential || !matches || credential.revokedAt !== null) throw new Unauthorized('API key refused', 'Bearer');
    const now = this.clock.now();
    if (credential.lastUsedAt === null || now.getTime() - credential.lastUsedAt.getTime() >= LAST_USE_RESOLUTION_MS) {
      const cached = this.verified.get(credential.id);
      if (cached) cached.credential = { ...credential, lastUsedAt: now };
      await this.credentials.recordUse(credential.id, now, new Date(now.getTime() - LAST_USE_RESOLUTION_MS));
    }
    return { role: credential.role, credentialId: credential.id, tenantId: credential.tenantId };
  }

  private async verifiedCredential(id: string): Promise<ApiCredential | null> {
    const now = Date.now();
    const cached = this.verified.get(id);
    if (cached && cached.until > now) return cached.credential;
    const credential = await this.credentials.findById(id);
    if (credential) {
      if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(id, { credential, until: now + VERIFIED_CACHE_MS });
    }
    return credential;
  }

  private async tenantOfNewCredential(actor: Actor, command: CreateApiCredentialCommand): Promise<string | null> {
    if (actor.role === 'tenant') {
      if (command.role !== 'tenant') throw new Forbidden(`a tenant key may create tenant keys only, not ${command.role} keys`);
      if (command.tenantId !== undefined) assertTenantVisible(actor, command.tenantId);
      return actor.tenantId;
    }
    if (command.role !== 'tenant') {
      if (command.tenantId !== undefined) throw new InvalidRequest(`a ${command.role} key belongs to no tenant: leave tenantId out`, { field: 'tenantId' });
      return null;
    }
    if (command.tenantId === undefined) throw new InvalidRequest('a tenant key needs tenantId', { field: 'tenantId' });
    if (!(await this.tenants.findById(command.tenantId))) throw new NotFound('tenant');
    return command.tenantId;
  }
}

const UNMATCHABLE = createHash('sha256').update('no credential').digest('hex');
