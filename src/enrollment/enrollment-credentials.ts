/** Creating, listing and revoking a tenant's EST enrollment credentials, and checking one presented by a device. */
import { Injectable } from '@nestjs/common';
import { Clock } from '../shared/clock.js';
import { NotFound, Unauthorized } from '../shared/errors.js';
import { isId, newId } from '../shared/identifiers.js';
import { TenantRepository } from '../tenants/tenant.js';
import { EnrollmentCredentialRepository, enrollmentSecretMatches, hashEnrollmentSecret, newEnrollmentSecret, type EnrollmentCredential } from './enrollment-credential.js';

@Injectable()
export class EnrollmentCredentials {
  constructor(
    private readonly credentials: EnrollmentCredentialRepository,
    private readonly tenants: TenantRepository,
    private readonly clock: Clock,
  ) {}

  /** The secret is in this answer only. */
  async create(tenantId: string, name: string): Promise<{ credential: EnrollmentCredential; secret: string }> {
    if (!(await this.tenants.findById(tenantId))) throw new NotFound('tenant');
    const secret = newEnrollmentSecret();
    const now = this.clock.now();
    const credential: EnrollmentCredential = { id: newId(now.getTime()), tenantId, name, secretHash: await hashEnrollmentSecret(secret), createdAt: now, revokedAt: null };
    await this.credentials.insert(credential);
    return { credential, secret };
  }

  async list(tenantId: string): Promise<EnrollmentCredential[]> {
    if (!(await this.tenants.findById(tenantId))) throw new NotFound('tenant');
    return this.credentials.list(tenantId);
  }

  async revoke(tenantId: string, id: string): Promise<void> {
    if (!(await this.credentials.revoke(tenantId, id, this.clock.now()))) throw new NotFound('enrollment credential');
  }

  /** Refuses alike an unknown id, a wrong secret and a revoked credential, so a caller learns nothing from the difference. */
  async check(tenantId: string, id: string, secret: string): Promise<EnrollmentCredential> {
    const credential = isId(id) ? await this.credentials.findById(tenantId, id) : null;
    // Hash even when there is nothing to compare against, so the answer takes as long either way.
    const matches = await enrollmentSecretMatches(secret, credential?.secretHash ?? UNMATCHABLE);
    if (!credential || !matches || credential.revokedAt !== null) throw new Unauthorized('enrollment credential refused', 'Basic');
    return credential;
  }
}

const UNMATCHABLE = 'scrypt$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
