/**
 * HTTP edge of EST (RFC 7030) under /.well-known/est/{tenant id}/: base64
 * bodies as the RFC says, HTTP Basic with an enrollment credential for the
 * first enrollment, the TLS client certificate for re-enrollment.
 */
import { Body, Controller, Get, Header, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { EstEnrollment, type EstCertificates } from '../enrollment/est-enrollment.js';
import { encodeCertsOnly } from '../codec/pkcs7.js';
import { DomainError, Unauthorized } from '../shared/errors.js';
import { isId } from '../shared/identifiers.js';
import { PublicRoute } from './access.guard.js';
import { ParseIdPipe } from './request-validation.js';
import { Audited, noteAuditFacts } from './audit.interceptor.js';
import { RateLimit, type RateLimitKey } from './rate-limit.guard.js';

const CERTS_ONLY = 'application/pkcs7-mime; smime-type=certs-only';

/**
 * Enrollment draws from the bucket of the enrollment credential it names,
 * counted before the secret is checked: that also slows guessing one
 * credential's secret, at the price that someone who knows a credential id
 * can spend its bucket. Names that are no credential id share one bucket.
 */
const byEnrollmentCredential: RateLimitKey = (request) => {
  const { username } = basicCredentials(request.headers.authorization);
  return isId(username) ? `enrollment-credential:${username}` : 'enrollment-credential:not-an-id';
};

/** Re-enrollment draws from the bucket of the certificate presented in the TLS handshake; without one it is refused at once. */
const byClientCertificate: RateLimitKey = (request) => {
  const der = clientCertificateOf(request);
  return der ? `client-certificate:${createHash('sha256').update(der).digest('hex')}` : null;
};

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
  @RateLimit('issuance', byEnrollmentCredential)
  // The answer is a PKCS#7 blob: the handler notes the actor and the issued certificate itself (noteAuditFacts).
  @Audited('est.enroll', { target: 'certificate' })
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
    // The credential named, refused or not; only an id: a secret typed into the username must not reach the audit trail.
    noteAuditFacts(request, { actor: isId(username) ? `enrollment:${username}` : 'anonymous' });
    const enrolled = await this.est.simpleEnroll(tenantId, username, password, csrOf(body));
    noteAuditFacts(request, { targetId: enrolled.issued.id, details: { serialNumber: enrolled.issued.serialNumber, commonName: enrolled.issued.commonName } });
    return certsOnly(enrolled);
  }

  @Post('simplereenroll')
  @RateLimit('issuance', byClientCertificate)
  // The target is the certificate presented and renewed (as for certificate.renew); the new one is in the details.
  @Audited('est.reenroll', { target: 'certificate' })
  @HttpCode(200)
  @Header('content-type', CERTS_ONLY)
  @Header('content-transfer-encoding', 'base64')
  @ApiOperation({ summary: 'EST simplereenroll: authorised by the device\'s current certificate in the TLS handshake (ccm over HTTPS); the CSR keeps its subject.' })
  @ApiConsumes('application/pkcs10')
  @ApiBody({ schema: { type: 'string' } })
  @ApiProduces(CERTS_ONLY)
  @ApiOkResponse({ schema: { type: 'string' } })
  async simplereenroll(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string, @Req() request: FastifyRequest, @Body() body: unknown): Promise<string> {
    const reenrolled = await this.est.simpleReenroll(tenantId, clientCertificateOf(request), csrOf(body));
    noteAuditFacts(request, {
      actor: `certificate:${reenrolled.renewed.id}`,
      targetId: reenrolled.renewed.id,
      details: { issuedCertificateId: reenrolled.issued.id, serialNumber: reenrolled.issued.serialNumber },
    });
    return certsOnly(reenrolled);
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
