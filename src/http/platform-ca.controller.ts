/** HTTP edge for the platform CA: read it, and the offline-root flow (CSR out, signed certificate in). */
import { Body, Controller, Get, Put } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { PlatformAuthority } from '../authorities/platform-authority.js';
import { Access } from './access.guard.js';
import { Audited } from './audit.interceptor.js';
import { AuthorityResponse, authorityResponse, CertificationRequestResponse, PlatformCertificateImportRequest } from './dtos.js';

@ApiTags('platform CA')
@Controller('v1/platform-ca')
@Access('admin')
export class PlatformCaController {
  constructor(private readonly platform: PlatformAuthority) {}

  @Get()
  @ApiOperation({ summary: 'The platform CA: status and certificate.' })
  @ApiOkResponse({ type: AuthorityResponse })
  async get(): Promise<AuthorityResponse> {
    return authorityResponse(await this.platform.current());
  }

  @Get('csr')
  @ApiOperation({ summary: 'A PKCS#10 request for the platform CA key, for an offline root to sign.' })
  @ApiOkResponse({ type: CertificationRequestResponse })
  async csr(): Promise<CertificationRequestResponse> {
    return { csrPem: await this.platform.certificationRequestPem() };
  }

  @Put('certificate')
  @Audited('platform-ca.import', { target: 'authority', fromResponse: (platform: AuthorityResponse) => ({ targetId: platform.id, details: { serialNumber: platform.serialNumber, fingerprintSha256: platform.fingerprintSha256, status: platform.status } }) })
  @ApiOperation({ summary: 'Import the platform CA certificate signed by an offline root. It must certify the platform key and be a CA.' })
  @ApiOkResponse({ type: AuthorityResponse })
  async importCertificate(@Body() body: PlatformCertificateImportRequest): Promise<AuthorityResponse> {
    return authorityResponse(await this.platform.importCertificate(body.certificatePem, body.issuerChainPem ?? null));
  }
}
