/**
 * Authorities: the platform CA and what issuance needs of any CA. The
 * platform CA is brought into being before the HTTP server takes requests.
 */
import { Module, type OnApplicationBootstrap } from '@nestjs/common';
import { IssuingCertificateCache } from './authority-certificate.js';
import { ReadIdentityRules, SetIdentityRules } from './authority-identity-rules.js';
import { PlatformAuthority } from './platform-authority.js';

@Module({
  providers: [PlatformAuthority, { provide: IssuingCertificateCache, useValue: new IssuingCertificateCache() }, ReadIdentityRules, SetIdentityRules],
  exports: [PlatformAuthority, IssuingCertificateCache, ReadIdentityRules, SetIdentityRules],
})
export class AuthoritiesModule implements OnApplicationBootstrap {
  constructor(private readonly platform: PlatformAuthority) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.platform.ensure();
  }
}
