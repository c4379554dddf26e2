/**
 * "Bring your own CA": a tenant uploads the certificate of its own CA, and
 * devices with certificates it signed may then authenticate. ccm checks the
 * certificate is a usable CA now (cA, keyCertSign, in validity, a
 * self-signature that verifies) and records it with no key: ccm never signs
 * for it, it only verifies what it signed.
 */
import { Injectable } from '@nestjs/common';
import type { Authority, DeviceRegistration } from '../authorities/authority.js';
import { certificateRecordOf } from '../authorities/authority-certificate.js';
import { AuthorityNames } from '../authorities/authority-names.js';
import { inspectCertificate, verifyCertificateSignature, type InspectedCertificate } from '../codec/certificate-inspection.js';
import { DerFramingError } from '../codec/der.js';
import { formatDistinguishedName, validateNameText } from '../codec/distinguished-name.js';
import { decodeSinglePem } from '../codec/pem.js';
import { keyAlgorithmOf, readPublicKeyInfo } from '../codec/public-key.js';
import { Clock } from '../shared/clock.js';
import { DomainError, InvalidRequest, NotFound } from '../shared/errors.js';
import { newId } from '../shared/identifiers.js';
import { TenantRepository } from '../tenants/tenant.js';
import { checkedAuthorityName } from './tenant-authority-queries.js';
import { TrustedAuthorityRepository } from './trusted-authority.js';

export interface UploadExternalAuthorityCommand {
  readonly tenantId: string;
  readonly name: string;
  readonly certificatePem: string;
  readonly registration: DeviceRegistration;
}

@Injectable()
export class UploadExternalAuthority {
  constructor(
    private readonly tenants: TenantRepository,
    private readonly authorities: TrustedAuthorityRepository,
    private readonly names: AuthorityNames,
    private readonly clock: Clock,
  ) {}

  async execute(command: UploadExternalAuthorityCommand): Promise<Authority> {
    if (!(await this.tenants.findById(command.tenantId))) throw new NotFound('tenant');
    const name = checkedAuthorityName(command.name);
    const registration = checkedRegistration(command.registration);
    // One certificate: the CA to trust. Its issuers, if any, are the tenant's business; ccm trusts this CA as an anchor.
    const der = decodeSinglePem(command.certificatePem, 'CERTIFICATE');
    const ca = inspectCertificate(der);
    const now = this.clock.now();
    const keyAlgorithm = assertUsableCa(ca, der, now);
    const subject = formatDistinguishedName(ca.subject);
    await this.names.assertAvailable({ subject: ca.subject, kind: 'external', tenantId: command.tenantId, subjectPublicKeyInfo: ca.subjectPublicKeyInfo, chosenByTenant: true });

    const authority: Authority = {
      id: newId(),
      tenantId: command.tenantId,
      kind: 'external',
      status: 'active',
      // The key is the tenant's: nothing is in custody, and nothing may ever ask custody to sign for this CA.
      custodyKeyName: '',
      keyAlgorithm,
      ...certificateRecordOf(der, null),
      subject,
      issuerAuthorityId: null,
      revokedAt: null,
      revocationReason: null,
      revocationVersion: 0,
      identityRules: null,
      registration,
      name,
      createdAt: now,
      updatedAt: now,
    };
    await this.authorities.insert(authority);
    return authority;
  }
}

export function checkedRegistration(registration: string | undefined): DeviceRegistration {
  if (registration === 'self' || registration === 'preregistered') return registration;
  throw new InvalidRequest('registration must be "self" or "preregistered"', { field: 'registration' });
}

/** RFC 5280 §4.2.1.9 and §4.2.1.3: a CA that may sign certificates, valid now. Returns its key algorithm. */
function assertUsableCa(ca: InspectedCertificate, der: Uint8Array, now: Date): Authority['keyAlgorithm'] {
  if (!ca.isCa) throw new DomainError('not-a-ca', 'the certificate is not a CA certificate: basicConstraints cA is not set', { field: 'certificatePem' });
  if (!ca.keyUsage.includes('keyCertSign')) throw new DomainError('not-a-ca', 'the CA certificate does not assert keyCertSign in keyUsage, so it may not sign certificates', { field: 'certificatePem' });
  // RFC 5280 §4.1.2.2: at most 20 octets; a longer one is a CA ccm's records (and many verifiers) cannot hold.
  if (ca.serialNumberHex.length > 40) throw new InvalidRequest('the CA certificate\'s serial number is longer than 20 octets', { field: 'certificatePem' });
  if (ca.subject.length === 0) throw new InvalidRequest('the CA certificate has an empty subject, which its certificates could not name as issuer', { field: 'certificatePem' });
  validateNameText(ca.subject, 'the CA certificate\'s', { field: 'certificatePem' });
  if (now < ca.notBefore) throw new InvalidRequest(`the CA certificate is not valid before ${ca.notBefore.toISOString()}`, { field: 'certificatePem', notBefore: ca.notBefore.toISOString() });
  if (now > ca.notAfter) throw new InvalidRequest(`the CA certificate expired at ${ca.notAfter.toISOString()}`, { field: 'certificatePem', notAfter: ca.notAfter.toISOString() });
  let keyAlgorithm: Authority['keyAlgorithm'];
  try {
    keyAlgorithm = keyAlgorithmOf(readPublicKeyInfo(ca.subjectPublicKeyInfo));
  } catch (error) {
    if (error instanceof DerFramingError) throw new InvalidRequest(`the CA public key is malformed: ${error.message}`, { field: 'certificatePem' });
    throw error;
  }
  // Self-issued (issuer = subject): its signature is checkable with its own key, and must verify. A CA under the tenant's own root cannot be checked without that root, which ccm does not need.
  if (Buffer.from(ca.issuerName).equals(ca.subjectName) && !verifyCertificateSignature(der, ca.subjectPublicKeyInfo)) {
    throw new InvalidRequest('the self-signed CA certificate\'s signature does not verify with its own key', { field: 'certificatePem' });
  }
  return keyAlgorithm;
}
