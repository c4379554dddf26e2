/**
 * HTTP edge of revocation artefacts: CRLs by tenant (for operators and
 * broker agents) and at the stable URL written into certificates' CRL
 * distribution points.
 */
import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { encodePem } from '../issuance/pem.js';
import type { RevocationListRecord } from '../revocation/revocation-list-store.js';
import { RevocationLists } from '../revocation/revocation-lists.js';
import { isId } from '../shared/identifiers.js';
import { NotFound } from '../shared/errors.js';
import { RevocationListQuery } from './dtos.js';
import { ParseIdPipe } from './request-validation.js';

@ApiTags('revocation')
@Controller()
export class RevocationController {
  constructor(private readonly revocationLists: RevocationLists) {}

  @Get('v1/tenants/:tenantId/crl')
  @ApiOperation({ summary: 'The current CRL of the tenant root CA: DER (application/pkix-crl) or, with format=pem, PEM. Suspended certificates appear as certificateHold.' })
  @ApiProduces('application/pkix-crl', 'application/x-pem-file')
  @ApiOkResponse({ schema: { type: 'string', format: 'binary' } })
  async ofTenant(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string, @Query() query: RevocationListQuery, @Res() reply: FastifyReply): Promise<void> {
    send(reply, await this.revocationLists.ofTenant(tenantId), query.format ?? 'der');
  }

  @Get('crl/:file')
  @ApiOperation({ summary: 'The CRL distribution point named in certificates: /crl/{authority id}.crl, DER.' })
  @ApiProduces('application/pkix-crl')
  @ApiOkResponse({ schema: { type: 'string', format: 'binary' } })
  async distributionPoint(@Param('file') file: string, @Res() reply: FastifyReply): Promise<void> {
    const authorityId = file.endsWith('.crl') ? file.slice(0, -'.crl'.length) : '';
    if (!isId(authorityId)) throw new NotFound('CRL');
    send(reply, await this.revocationLists.ofAuthority(authorityId), 'der');
  }
}

function send(reply: FastifyReply, crl: RevocationListRecord, format: 'der' | 'pem'): void {
  // A CRL may change at any moment (a suspension), so caches must revalidate: no-cache, not max-age.
  void reply.header('cache-control', 'no-cache').header('expires', crl.nextUpdate.toUTCString()).header('x-crl-number', String(crl.crlNumber));
  if (format === 'pem') void reply.type('application/x-pem-file').send(encodePem(crl.der, 'X509 CRL'));
  else void reply.type('application/pkix-crl').send(Buffer.from(crl.der));
}
