/** HTTP edge for client certificates, always under one tenant. */
import { Body, Controller, Get, Header, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CertificateQueries } from '../certificates/certificate-queries.js';
import { IssueClientCertificate } from '../certificates/issue-client-certificate.js';
import { ChangeCertificateState } from '../lifecycle/change-certificate-state.js';
import { RenewClientCertificate } from '../lifecycle/renew-client-certificate.js';
import {
  CertificateListQuery,
  CertificatePage,
  CertificateResponse,
  certificateResponse,
  IssueCertificateRequest,
  IssuedCertificateResponse,
  issuedCertificateResponse,
  RenewCertificateRequest,
  RenewedCertificateResponse,
  renewedCertificateResponse,
  RevokeRequest,
} from './dtos.js';
import { Access } from './access.guard.js';
import { ParseIdPipe } from './request-validation.js';
import { Audited } from './audit.interceptor.js';
import { RateLimit } from './rate-limit.guard.js';

@ApiTags('certificates')
@Controller('v1/tenants/:tenantId/certificates')
@Access('admin', 'tenant')
export class CertificatesController {
  constructor(
    private readonly issue: IssueClientCertificate,
    private readonly queries: CertificateQueries,
    private readonly lifeCycle: ChangeCertificateState,
    private readonly renewal: RenewClientCertificate,
  ) {}

  @Post()
  @RateLimit('issuance')
  @Audited('certificate.issue', { target: 'certificate', fromResponse: (issued: IssuedCertificateResponse) => ({ targetId: issued.id, details: { serialNumber: issued.serialNumber, commonName: issued.commonName, keySource: issued.keySource } }) })
  @HttpCode(201)
  // The response may carry a private key: no cache anywhere may keep it.
  @Header('cache-control', 'no-store')
  @ApiOperation({ summary: 'Issue a client certificate: from a CSR, or with a key generated here and returned once.' })
  @ApiCreatedResponse({ type: IssuedCertificateResponse })
  async create(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string, @Body() body: IssueCertificateRequest): Promise<IssuedCertificateResponse> {
    const issued = await this.issue.execute({ tenantId, ...body });
    return issuedCertificateResponse(issued);
  }

  @Get()
  // Brokers (and their agents) look certificates up to enforce their state.
  @Access('admin', 'tenant', 'broker')
  @ApiOperation({ summary: 'List certificates in issuance order, filtered by state, common name or serial.' })
  @ApiOkResponse({ type: CertificatePage })
  async list(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string, @Query() query: CertificateListQuery): Promise<CertificatePage> {
    const filter = { ...(query.state ? { state: query.state } : {}), ...(query.commonName !== undefined ? { commonName: query.commonName } : {}), ...(query.serialNumber !== undefined ? { serialNumber: query.serialNumber } : {}) };
    const page = await this.queries.list(tenantId, filter, query.after ?? null, query.limit ?? 50);
    return { items: page.items.map(certificateResponse), nextCursor: page.nextCursor };
  }

  @Get('by-serial/:serialNumber')
  @Access('admin', 'tenant', 'broker')
  @ApiOperation({ summary: 'Read a certificate by serial number (hex).' })
  @ApiOkResponse({ type: CertificateResponse })
  async bySerial(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string, @Param('serialNumber') serialNumber: string): Promise<CertificateResponse> {
    return certificateResponse(await this.queries.bySerial(tenantId, serialNumber));
  }

  @Get('by-fingerprint/:sha256')
  @Access('admin', 'tenant', 'broker')
  @ApiOperation({ summary: 'Read a certificate by the SHA-256 fingerprint of its DER (hex, colons allowed).' })
  @ApiOkResponse({ type: CertificateResponse })
  async byFingerprint(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string, @Param('sha256') sha256: string): Promise<CertificateResponse> {
    return certificateResponse(await this.queries.byFingerprint(tenantId, sha256));
  }

  @Get(':certificateId')
  @Access('admin', 'tenant', 'broker')
  @ApiOperation({ summary: 'Read a certificate by id.' })
  @ApiOkResponse({ type: CertificateResponse })
  async byId(
    @Param('tenantId', new ParseIdPipe('tenant')) tenantId: string,
    @Param('certificateId', new ParseIdPipe('certificate')) certificateId: string,
  ): Promise<CertificateResponse> {
    return certificateResponse(await this.queries.byId(tenantId, certificateId));
  }

  @Post(':certificateId/suspend')
  @Audited('certificate.suspend', { target: 'certificate', targetParam: 'certificateId', fromResponse: stateDetails })
  @HttpCode(200)
  @ApiOperation({ summary: 'Suspend: refused everywhere (CRL certificateHold, authentication) until reactivated. Emits certificate.suspended.' })
  @ApiOkResponse({ type: CertificateResponse })
  async suspend(
    @Param('tenantId', new ParseIdPipe('tenant')) tenantId: string,
    @Param('certificateId', new ParseIdPipe('certificate')) certificateId: string,
  ): Promise<CertificateResponse> {
    return certificateResponse(await this.lifeCycle.suspend(tenantId, certificateId));
  }

  @Post(':certificateId/reactivate')
  @Audited('certificate.reactivate', { target: 'certificate', targetParam: 'certificateId', fromResponse: stateDetails })
  @HttpCode(200)
  @ApiOperation({ summary: 'Lift a suspension: back to active (or inactive if never used). Emits certificate.reactivated.' })
  @ApiOkResponse({ type: CertificateResponse })
  async reactivate(
    @Param('tenantId', new ParseIdPipe('tenant')) tenantId: string,
    @Param('certificateId', new ParseIdPipe('certificate')) certificateId: string,
  ): Promise<CertificateResponse> {
    return certificateResponse(await this.lifeCycle.reactivate(tenantId, certificateId));
  }

  @Post(':certificateId/revoke')
  @Audited('certificate.revoke', { target: 'certificate', targetParam: 'certificateId', fromResponse: stateDetails })
  @HttpCode(200)
  @ApiOperation({ summary: 'Revoke for good, with an RFC 5280 reason. Emits certificate.revoked.' })
  @ApiOkResponse({ type: CertificateResponse })
  async revoke(
    @Param('tenantId', new ParseIdPipe('tenant')) tenantId: string,
    @Param('certificateId', new ParseIdPipe('certificate')) certificateId: string,
    @Body() body: RevokeRequest,
  ): Promise<CertificateResponse> {
    return certificateResponse(await this.lifeCycle.revoke(tenantId, certificateId, body.reason ?? 'unspecified'));
  }

  @Post(':certificateId/renew')
  @RateLimit('issuance')
  // The target is the renewed certificate the path names; the new one is in the details.
  @Audited('certificate.renew', {
    target: 'certificate',
    targetParam: 'certificateId',
    fromResponse: (renewed: RenewedCertificateResponse) => ({ details: { issuedCertificateId: renewed.id, serialNumber: renewed.serialNumber, sameKey: renewed.sameKey, previousState: renewed.previous.state } }),
  })
  @HttpCode(201)
  @Header('cache-control', 'no-store')
  @ApiOperation({ summary: 'Re-issue for the same device identity: new serial, the same key (CSR) or a new one; optionally revoke the renewed certificate as superseded.' })
  @ApiCreatedResponse({ type: RenewedCertificateResponse })
  async renew(
    @Param('tenantId', new ParseIdPipe('tenant')) tenantId: string,
    @Param('certificateId', new ParseIdPipe('certificate')) certificateId: string,
    @Body() body: RenewCertificateRequest,
  ): Promise<RenewedCertificateResponse> {
    return renewedCertificateResponse(await this.renewal.execute({ tenantId, certificateId, ...body }));
  }
}

/** What a state change leaves: the certificate's serial number, its new state and, once revoked, the reason. */
function stateDetails(certificate: CertificateResponse): { details: Record<string, unknown> } {
  return { details: { serialNumber: certificate.serialNumber, state: certificate.state, revocationReason: certificate.revocationReason } };
}
