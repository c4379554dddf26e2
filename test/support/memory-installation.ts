/**
 * A ccm installation in memory for unit tests of the use cases: the
 * configuration as parsed from an environment, a fixed clock, in-memory
 * custody and ports (in-memory-ports.ts), and the real CA role, issuing
 * certificate cache, name rules and platform CA over them; constructed with
 * `new`, no Nest container, no services. Owns that wiring, the requests
 * devices and tenants send (PKCS #10 from a throwaway key) and the check
 * that a promise fails with a given domain error kind.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { Environment } from '@ccm/configuration';
import { IssuingCertificateCache } from '../../src/authorities/authority-certificate.js';
import type { Authority } from '../../src/authorities/authority.js';
import { AuthorityNames } from '../../src/authorities/authority-names.js';
import { PlatformAuthority } from '../../src/authorities/platform-authority.js';
import { CertificateAuthority } from '../../src/ca/certificate-authority.js';
import { SerialNumbers } from '../../src/ca/serial-numbers.js';
import { encodeCertificationRequest } from '../../src/codec/certificate-encoder.js';
import type { DistinguishedName } from '../../src/codec/distinguished-name.js';
import type { KeyAlgorithm } from '../../src/codec/key-algorithm.js';
import { decodePem, encodePem } from '../../src/codec/pem.js';
import { parseConfiguration, type Configuration } from '../../src/config/configuration.js';
import { FixedClock } from '../../src/shared/clock.js';
import { DomainError } from '../../src/shared/errors.js';
import { CreateTenant } from '../../src/tenants/create-tenant.js';
import type { Tenant } from '../../src/tenants/tenant.js';
import { memoryPorts, type MemoryPorts } from './in-memory-ports.js';
import { MemoryKeyCustody } from './memory-key-custody.js';
import { newTestKey, type TestKey } from './test-keys.js';

/** Whole seconds: certificates carry no fractions, so dates read back from them compare equal to the clock's. */
export const NOW = new Date('2027-03-01T12:00:00Z');

export class MemoryInstallation {
  readonly config: Configuration;
  readonly clock = new FixedClock(NOW);
  readonly custody = new MemoryKeyCustody();
  readonly ports: MemoryPorts = memoryPorts();
  readonly issuers = new IssuingCertificateCache();
  readonly ca = new CertificateAuthority(this.custody, new SerialNumbers());
  readonly names: AuthorityNames;
  readonly platform: PlatformAuthority;
  readonly createTenant: CreateTenant;

  /** `env`: CCM_* settings on top of the defaults, e.g. { CCM_CLIENT_CERTIFICATE_ID_URI: 'off' }. */
  constructor(env: Environment = {}) {
    this.config = parseConfiguration(env);
    this.names = new AuthorityNames(this.ports.authorities, this.issuers);
    this.platform = new PlatformAuthority(this.config, this.ports.authorities, this.names, this.ca, this.clock);
    this.createTenant = new CreateTenant(this.config, this.platform, this.issuers, this.ca, this.ports.tenants, this.ports.authorities, this.clock);
  }

  /** An installation whose platform CA is active and which has one tenant with an active root CA. */
  static async withTenant(env: Environment = {}, name = 'Acme'): Promise<TenantInstallation> {
    const installation = new MemoryInstallation(env);
    await installation.platform.ensure();
    const { tenant, authority } = await installation.createTenant.execute({ name });
    return Object.assign(installation, { tenant, root: authority });
  }

  /** The DER SubjectPublicKeyInfo a CA's certificate certifies: what its signatures verify under. */
  publicKeyOf(authority: Authority): Uint8Array {
    return this.issuers.of(authority).subjectPublicKeyInfo;
  }
}

/** An installation with one tenant and its active root CA. */
export type TenantInstallation = MemoryInstallation & { readonly tenant: Tenant; readonly root: Authority };

/** A PKCS #10 request in PEM for `subject`, signed by a fresh key of `algorithm` (or by `key`). */
export async function certificationRequest(subject: DistinguishedName, key?: TestKey, algorithm: KeyAlgorithm = 'ecdsa-p256'): Promise<{ pem: string; key: TestKey }> {
  const requestKey = key ?? (await newTestKey(algorithm));
  const der = await encodeCertificationRequest(subject, requestKey.spki, requestKey.signer);
  return { pem: encodePem(der, 'CERTIFICATE REQUEST'), key: requestKey };
}

/**
 * A PKCS #10 request in PEM for a subject ccm's own encoder refuses to write
 * (an empty one, a CN over 64 characters), as a device's software may send:
 * built by @peculiar/x509 from RFC 4514 text, signed by a fresh P-256 key.
 */
export async function foreignCertificationRequest(subject: string): Promise<string> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, false, ['sign', 'verify']);
  const request = await x509.Pkcs10CertificateRequestGenerator.create({ name: subject, keys, signingAlgorithm: algorithm });
  return request.toString('pem');
}

/** The one certificate of a PEM, DER. */
export function derOf(certificatePem: string): Uint8Array {
  const [der] = decodePem(certificatePem, ['CERTIFICATE']);
  assert.ok(der, 'a PEM certificate');
  return der;
}

/** Fails unless `promise` rejects with a DomainError of `kind`; returns the error for further checks. */
export async function rejectsWith(promise: Promise<unknown>, kind: string): Promise<DomainError> {
  let caught: unknown = null;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof DomainError, `expected a DomainError of kind ${kind}, got ${String(caught)}`);
  assert.equal(caught.kind, kind, caught.message);
  return caught;
}
