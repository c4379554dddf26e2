/**
 * Reading and setting the identity rules of one of a tenant's CAs (its root,
 * or an external or delegated CA). The CA is always looked up together with
 * the tenant, so another tenant's CA is not found rather than shown.
 */
import { Injectable } from '@nestjs/common';
import { Clock } from '../shared/clock.js';
import { NotFound } from '../shared/errors.js';
import { AuthorityRepository, type Authority, type AuthorityKind } from './authority.js';
import { DEFAULT_IDENTITY_RULES, validateIdentityRules, type IdentityRules, type IdentityRulesInput } from './identity-rules.js';

/** CAs that certify devices; an OCSP responder key or the platform CA has no device identities to map. */
const DEVICE_AUTHORITY_KINDS: readonly AuthorityKind[] = ['tenant-root', 'external', 'intermediate'];

export interface AuthorityIdentityRules {
  readonly authorityId: string;
  /** The rules in force: the stored ones, or the defaults when none are stored. */
  readonly rules: IdentityRules;
}

export interface SetIdentityRulesCommand extends IdentityRulesInput {
  readonly tenantId: string;
  readonly authorityId: string;
}

async function deviceAuthorityOf(authorities: AuthorityRepository, tenantId: string, authorityId: string): Promise<Authority> {
  const authority = await authorities.findById(authorityId);
  if (!authority || authority.tenantId !== tenantId || !DEVICE_AUTHORITY_KINDS.includes(authority.kind)) throw new NotFound('authority');
  return authority;
}

@Injectable()
export class ReadIdentityRules {
  constructor(private readonly authorities: AuthorityRepository) {}

  async execute(tenantId: string, authorityId: string): Promise<AuthorityIdentityRules> {
    const authority = await deviceAuthorityOf(this.authorities, tenantId, authorityId);
    return { authorityId: authority.id, rules: authority.identityRules ?? DEFAULT_IDENTITY_RULES };
  }
}

/** Replaces the rules whole: members the command leaves out take the defaults, not their previous values. */
@Injectable()
export class SetIdentityRules {
  constructor(
    private readonly authorities: AuthorityRepository,
    private readonly clock: Clock,
  ) {}

  async execute(command: SetIdentityRulesCommand): Promise<AuthorityIdentityRules> {
    const authority = await deviceAuthorityOf(this.authorities, command.tenantId, command.authorityId);
    const rules = validateIdentityRules(command, { signedByCcm: authority.kind === 'tenant-root' });
    if (!(await this.authorities.updateIdentityRules(command.tenantId, authority.id, rules, this.clock.now()))) throw new NotFound('authority');
    return { authorityId: authority.id, rules };
  }
}
