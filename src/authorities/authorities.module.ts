/**
 * Authorities: the platform CA, what issuance needs of any CA, and the rule
 * that no two CAs share a name (AuthorityNames). The
 * platform CA is brought into being before the HTTP server takes requests.
 */
import { Module, type OnApplicationBootstrap } from '@nestjs/common';
import { IssuingCertificateCache } from './authority-certificate.js';
import { ReadIdentityRules, SetIdentityRules } from './authority-identity-rules.js';
import { AuthorityNames } from './authority-names.js';
import { PlatformAuthority } from './platform-authority.js';

@Module({
  providers: [PlatformAuthority, { provide: IssuingCertificateCache, useValue: new IssuingCertificateCache() }, ReadIdentityRules, SetIdentityRules, AuthorityNames],
  exports: [PlatformAuthority, IssuingCertificateCache, ReadIdentityRules, SetIdentityRules, AuthorityNames],
})
export class AuthoritiesModule implements OnApplicationBootstrap {
  constructor(private readonly platform: PlatformAuthority) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.platform.ensure();
  }
}
