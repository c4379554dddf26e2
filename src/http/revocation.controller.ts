/**
 * HTTP edge of revocation artefacts: CRLs by tenant (for operators and
 * broker agents) and at the stable URL written into certificates' CRL
 * distribution points, and each tenant CA's OCSP responder (RFC 6960
 * appendix A: POST, or GET with the base64 request in the path).
 */
import { Body, Controller, Get, Header, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { encodePem } from '../codec/pem.js';
import { RevocationMetrics } from '../metrics/metrics.js';
import type { RevocationListRecord } from '../revocation/revocation-list-store.js';
import { OcspResponder } from '../revocation/ocsp-responder.js';
import { RevocationLists } from '../revocation/revocation-lists.js';
import { isId } from '../shared/identifiers.js';
import { NotFound } from '../shared/errors.js';
import { RevocationListQuery, TenantRevocationLists } from './dtos.js';
import { Access, PublicRoute } from './access.guard.js';
import { ParseIdPipe } from './request-validation.js';

@ApiTags('revocation')
@Controller()
export class RevocationController {
  constructor(
    private readonly revocationLists: RevocationLists,
    private readonly ocsp: OcspResponder,
    private readonly metrics: RevocationMetrics,
  ) {}

  @Get('v1/tenants/:tenantId/crl')
  @Access('admin', 'tenant', 'broker')
  @ApiOperation({ summary: 'The current CRL of the tenant root CA (with sharding: its complete CRL, every shard, no IDP): DER (application/pkix-crl) or, with format=pem, PEM. Suspended certificates appear as certificateHold.' })
  @ApiProduces('application/pkix-crl', 'application/x-pem-file')
  @ApiOkResponse({ schema: { type: 'string', format: 'binary' } })
  async ofTenant(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string, @Query() query: RevocationListQuery, @Res() reply: FastifyReply): Promise<void> {
    const format = query.format ?? 'der';
    send(reply, await this.revocationLists.ofTenant(tenantId), format);
    this.metrics.crlServed(format);
  }

  @Get('v1/tenants/:tenantId/revocation-lists')
  @Access('admin', 'tenant', 'broker')
  @ApiOperation({
    summary:
      'The CRL of every root CA of the tenant whose certificates are in force (during a rollover, the active root and the retiring ones), each with its CA certificate. A broker that checks CRLs needs all of them: it refuses a certificate whose issuer has no CRL.',
  })
  @ApiOkResponse({ type: TenantRevocationLists })
  async ofTenantRoots(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string): Promise<TenantRevocationLists> {
    const lists = await this.revocationLists.ofTenantRoots(tenantId);
    lists.forEach(() => this.metrics.crlServed('pem'));
    return {
      items: lists.map(({ authority, crl }) => ({
        authorityId: authority.id,
        status: authority.status,
        certificatePem: authority.certificatePem!,
        crlPem: encodePem(crl.der, 'X509 CRL'),
        crlNumber: crl.crlNumber,
        thisUpdate: crl.thisUpdate.toISOString(),
        nextUpdate: crl.nextUpdate.toISOString(),
      })),
    };
  }

  @Get('crl/:file')
  @PublicRoute()
  @ApiOperation({ summary: 'The CRL distribution point named in certificates: /crl/{authority id}.crl, or /crl/{authority id}-{shard}.crl when CRLs are sharded; DER.' })
  @ApiProduces('application/pkix-crl')
  @ApiOkResponse({ schema: { type: 'string', format: 'binary' } })
  async distributionPoint(@Param('file') file: string, @Res() reply: FastifyReply): Promise<void> {
    // {authority id}.crl, or {authority id}-{shard}.crl for a sharded CA.
    const match = /^(.{36})(?:-([1-9]\d{0,8}))?\.crl$/.exec(file);
    if (!match || !isId(match[1]!)) throw new NotFound('CRL');
    send(reply, await this.revocationLists.ofDistributionPoint(match[1]!, match[2] === undefined ? 0 : Number(match[2])), 'der');
    this.metrics.crlServed('der');
  }

  @Post('ocsp/:authorityId')
  @PublicRoute()
  @HttpCode(200)
  @Header('content-type', 'application/ocsp-response')
  @Header('cache-control', 'no-cache')
  @ApiOperation({ summary: 'OCSP responder of one tenant CA (the URL in its certificates\' AIA): a DER OCSPRequest in, a signed OCSPResponse out.' })
  @ApiConsumes('application/ocsp-request')
  @ApiBody({ schema: { type: 'string', format: 'binary' } })
  @ApiProduces('application/ocsp-response')
  @ApiOkResponse({ schema: { type: 'string', format: 'binary' } })
  async ocspPost(@Param('authorityId') authorityId: string, @Body() body: unknown): Promise<Buffer> {
    return Buffer.from(await this.ocsp.respond(authorityId, Buffer.isBuffer(body) ? body : new Uint8Array()));
  }

  @Get('ocsp/:authorityId/*')
  @PublicRoute()
  @Header('content-type', 'application/ocsp-response')
  @Header('cache-control', 'no-cache')
  @ApiOperation({ summary: 'OCSP over GET: the base64 (URL-encoded) DER request as the last path segment(s).' })
  @ApiProduces('application/ocsp-response')
  @ApiOkResponse({ schema: { type: 'string', format: 'binary' } })
  async ocspGet(@Param('authorityId') authorityId: string, @Param('*') request: string | string[]): Promise<Buffer> {
    const encoded = decodedAgain(Array.isArray(request) ? request.join('/') : request);
    return Buffer.from(await this.ocsp.respond(authorityId, Buffer.from(encoded, 'base64')));
  }
}

/**
 * The router has percent-decoded the path once; a client that encoded the
 * base64 twice needs a second pass. A "%" that starts no valid escape after
 * the first pass is not an encoding at all: the text is left as it is, and
 * the responder answers the garbage with malformedRequest.
 */
function decodedAgain(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function send(reply: FastifyReply, crl: RevocationListRecord, format: 'der' | 'pem'): void {
  // A CRL may change at any moment (a suspension), so caches must revalidate: no-cache, not max-age.
  void reply.header('cache-control', 'no-cache').header('expires', crl.nextUpdate.toUTCString()).header('x-crl-number', String(crl.crlNumber));
  if (format === 'pem') void reply.type('application/x-pem-file').send(encodePem(crl.der, 'X509 CRL'));
  else void reply.type('application/pkix-crl').send(Buffer.from(crl.der));
}
