/**
 * HTTP edge of EST (RFC 7030) under /.well-known/est/{tenant id}/: base64
 * bodies as the RFC says, HTTP Basic with an enrollment credential for the
 * first enrollment, the TLS client certificate for re-enrollment.
 */
import { Body, Controller, Get, Header, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import { EstEnrollment, type EstCertificates } from '../enrollment/est-enrollment.js';
import { encodeCertsOnly } from '../issuance/pkcs7.js';
import { DomainError, Unauthorized } from '../shared/errors.js';
import { PublicRoute } from './access.guard.js';
import { ParseIdPipe } from './request-validation.js';

const CERTS_ONLY = 'application/pkcs7-mime; smime-type=certs-only';

@ApiTags('est')
@Controller('.well-known/est/:tenantId')
@PublicRoute()
export class EstController {
  constructor(private readonly est: EstEnrollment) {}

  @Get('cacerts')
  @ApiOperation({ summary: 'EST cacerts: the tenant\'s CA certificates as a base64 certs-only PKCS#7.' })
  @ApiProduces(CERTS_ONLY)
  @ApiOkResponse({ schema: { type: 'string' } })
  @Header('content-type', CERTS_ONLY)
  @Header('content-transfer-encoding', 'base64')
  async cacerts(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string): Promise<string> {
    return certsOnly(await this.est.caCertificates(tenantId));
  }

  @Post('simpleenroll')
  @HttpCode(200)
  @Header('content-type', CERTS_ONLY)
  @Header('content-transfer-encoding', 'base64')
  @ApiOperation({ summary: 'EST simpleenroll: a base64 PKCS#10 in, the certificate as a base64 certs-only PKCS#7 out; HTTP Basic with an enrollment credential.' })
  @ApiConsumes('application/pkcs10')
  @ApiBody({ schema: { type: 'string' } })
  @ApiProduces(CERTS_ONLY)
  @ApiOkResponse({ schema: { type: 'string' } })
  async simpleenroll(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string, @Req() request: FastifyRequest, @Body() body: unknown): Promise<string> {
    const { username, password } = basicCredentials(request.headers.authorization);
    return certsOnly(await this.est.simpleEnroll(tenantId, username, password, csrOf(body)));
  }

  @Post('simplereenroll')
  @HttpCode(200)
  @Header('content-type', CERTS_ONLY)
  @Header('content-transfer-encoding', 'base64')
  @ApiOperation({ summary: 'EST simplereenroll: authorised by the device\'s current certificate in the TLS handshake (ccm over HTTPS); the CSR keeps its subject.' })
  @ApiConsumes('application/pkcs10')
  @ApiBody({ schema: { type: 'string' } })
  @ApiProduces(CERTS_ONLY)
  @ApiOkResponse({ schema: { type: 'string' } })
  async simplereenroll(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string, @Req() request: FastifyRequest, @Body() body: unknown): Promise<string> {
    return certsOnly(await this.est.simpleReenroll(tenantId, clientCertificateOf(request), csrOf(body)));
  }
}

/** Base64 in lines of 64, as EST clients (and openssl base64 -d) expect. */
function certsOnly(result: EstCertificates): string {
  return `${Buffer.from(encodeCertsOnly(result.certificates)).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n`;
}

function csrOf(body: unknown): Uint8Array {
  const text = typeof body === 'string' ? body.replace(/\s+/g, '') : '';
  if (text === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw new DomainError('malformed-csr', 'the body must be a base64 DER PKCS#10 request (Content-Type: application/pkcs10)');
  return Buffer.from(text, 'base64');
}

function basicCredentials(header: string | undefined): { username: string; password: string } {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header ?? '');
  const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new Unauthorized('enrollment needs an enrollment credential (HTTP Basic: credential id and secret)', 'Basic');
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function clientCertificateOf(request: FastifyRequest): Uint8Array | null {
  const socket = request.raw.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== 'function') return null;
  const peer = socket.getPeerCertificate(true);
  return peer && peer.raw ? new Uint8Array(peer.raw) : null;
}
