/**
 * The OCSP responder (RFC 6960) of ccm's tenant CAs. Each CA has its own
 * responder URL (in its certificates' AIA), so the issuer is known from the
 * URL and a request is only matched against it. A tenant root also answers
 * for the delegated intermediates it certified. Responses are signed by the
 * issuing CA or its delegated responder (ocsp-signing.ts), through custody. Answers to requests without a nonce are cached
 * until the CA's revocation state changes or half their validity has passed;
 * a nonce makes every response unique, so those are signed each time.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { IssuingCertificateCache } from '../authorities/authority-certificate.js';
import { AuthorityRepository, holdsCustodyKey, type Authority } from '../authorities/authority.js';
import { CertificateRepository, type ClientCertificate } from '../certificates/client-certificate.js';
import { CONFIGURATION } from '../config/configuration.module.js';
import type { Configuration } from '../config/configuration.js';
import type { RevocationReason } from '@ccm/event-consumer/contract';
import { encodeOcspErrorResponse, encodeOcspResponse, issuerHashes, OcspMalformedRequest, parseOcspRequest, type OcspCertId, type OcspCertificateStatus } from '../codec/ocsp.js';
import { RevocationMetrics } from '../metrics/metrics.js';
import { Clock } from '../shared/clock.js';
import { DomainError } from '../shared/errors.js';
import { isId } from '../shared/identifiers.js';
import { TrustedAuthorityRepository } from '../trust/trusted-authority.js';
import { OcspSigningIdentities } from './ocsp-signing.js';

/** How long a response may be relied on; suspensions reach OCSP clients that cache at most this late. */
const RESPONSE_VALIDITY_MS = 3600_000;
const CACHE_ENTRIES = 10_000;

interface CachedResponse {
  readonly der: Uint8Array;
  readonly expiresAt: number;
  /** What it says of each certificate asked about, for the metrics. */
  readonly statuses: readonly OcspCertificateStatus['kind'][];
}

@Injectable()
export class OcspResponder {
  private readonly logger = new Logger('OcspResponder');
  private readonly cache = new Map<string, CachedResponse>();

  constructor(
    @Inject(CONFIGURATION) private readonly config: Configuration,
    private readonly authorities: AuthorityRepository,
    private readonly issuers: IssuingCertificateCache,
    private readonly certificates: CertificateRepository,
    private readonly trusted: TrustedAuthorityRepository,
    private readonly signing: OcspSigningIdentities,
    private readonly clock: Clock,
    private readonly metrics: RevocationMetrics,
  ) {}

  /** Always an OCSPResponse: protocol errors are answered in OCSP's own terms, never as HTTP errors. */
  async respond(authorityId: string, requestDer: Uint8Array): Promise<Uint8Array> {
    try {
      // A path segment that is no id names no CA; not asked of the database, which refuses some (a NUL) with an error.
      const authority = isId(authorityId) ? await this.authorities.findById(authorityId) : null;
      // A URL naming no CA of ours: nothing we may answer for (RFC 6960 §2.3 "unauthorized").
      // External and delegated CAs too: their keys are the tenant's, so ccm cannot sign for them.
      if (!authority || authority.kind !== 'tenant-root' || !holdsCustodyKey(authority) || !authority.certificatePem) {
        this.metrics.ocspAnswered('unauthorized');
        return encodeOcspErrorResponse('unauthorized');
      }
      const request = parseOcspRequest(requestDer);
      const now = this.clock.now().getTime();
      const cacheKey = request.nonce === null ? `${authority.id}:${authority.revocationVersion}:${Buffer.from(requestDer).toString('base64')}` : null;
      const cached = cacheKey ? this.cache.get(cacheKey) : undefined;
      if (cached && cached.expiresAt > now) {
        for (const status of cached.statuses) this.metrics.ocspAnswered(status);
        return cached.der;
      }

      const issuer = this.issuers.of(authority);
      const thisUpdate = new Date(now - this.config.clientCertificates.backdateSeconds * 1000);
      const nextUpdate = new Date(now + RESPONSE_VALIDITY_MS);
      const responses = [];
      for (const certId of request.certIds) {
        responses.push({ certId, status: await this.statusOf(authority, issuer.subjectName, issuer.subjectPublicKeyInfo, certId), thisUpdate, nextUpdate });
      }
      const signing = await this.signing.of(authority);
      const der = await encodeOcspResponse(
        { responderSubjectPublicKeyInfo: signing.subjectPublicKeyInfo, producedAt: new Date(now), responses, nonce: request.nonce, certificates: signing.certificates },
        signing.signer,
      );
      const statuses = responses.map((response) => response.status.kind);
      if (cacheKey) this.remember(cacheKey, { der, expiresAt: now + RESPONSE_VALIDITY_MS / 2, statuses });
      for (const status of statuses) this.metrics.ocspAnswered(status);
      return der;
    } catch (error) {
      if (error instanceof OcspMalformedRequest) {
        this.metrics.ocspAnswered('malformed');
        return encodeOcspErrorResponse('malformedRequest');
      }
      if (error instanceof DomainError && (error.kind === 'custody-unavailable' || error.kind === 'custody-error')) {
        // The answer says only "try later" (RFC 6960 §2.3); what custody said is for the operator.
        this.logger.warn(`OCSP request for authority ${authorityId}: custody could not sign (${error.message}); answered tryLater`);
        this.metrics.ocspAnswered('try-later');
        return encodeOcspErrorResponse('tryLater');
      }
      this.logger.error(`OCSP request for authority ${authorityId} failed`, error instanceof Error ? error.stack : String(error));
      this.metrics.ocspAnswered('internal-error');
      return encodeOcspErrorResponse('internalError');
    }
  }

  private async statusOf(authority: Authority, issuerName: Uint8Array, issuerKey: Uint8Array, certId: OcspCertId): Promise<OcspCertificateStatus> {
    const expected = issuerHashes(certId.hashAlgorithm, issuerName, issuerKey);
    // A CertID for another issuer: this responder knows nothing of it.
    if (!Buffer.from(expected.nameHash).equals(certId.issuerNameHash) || !Buffer.from(expected.keyHash).equals(certId.issuerKeyHash)) return { kind: 'unknown' };
    const certificate: ClientCertificate | null = await this.certificates.findByAuthorityAndSerial(authority.id, certId.serialNumber);
    if (!certificate) return this.delegatedStatusOf(authority, certId.serialNumber);
    if (certificate.state === 'suspended') return { kind: 'revoked', revokedAt: certificate.suspendedAt ?? certificate.updatedAt, reason: 'certificateHold' };
    if (certificate.state === 'revoked') return { kind: 'revoked', revokedAt: certificate.revokedAt ?? certificate.updatedAt, reason: (certificate.revocationReason ?? 'unspecified') as RevocationReason };
    return { kind: 'good' };
  }

  /** The delegated intermediates a tenant root certified are in no certificates row; their status is the authority record's. */
  private async delegatedStatusOf(authority: Authority, serialNumber: string): Promise<OcspCertificateStatus> {
    const delegated = await this.trusted.findDelegatedBySerial(authority.id, serialNumber);
    if (!delegated) return { kind: 'unknown' };
    if (delegated.status === 'revoked') return { kind: 'revoked', revokedAt: delegated.revokedAt ?? delegated.updatedAt, reason: (delegated.revocationReason ?? 'unspecified') as RevocationReason };
    return { kind: 'good' };
  }

  private remember(key: string, response: CachedResponse): void {
    // Oldest first out: a Map iterates in insertion order.
    if (this.cache.size >= CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, response);
  }
}
