/**
 * Devices under external and delegated CAs: an identity (and type) that a
 * CA's certificates name, registered beforehand or on first sight, and the
 * one certificate it is bound to once seen. ccm's own client certificates
 * need no such record: ccm issued them, so it knows them already.
 */
import type { Authority } from '../authorities/authority.js';
import type { DeviceIdentity } from '../authorities/identity-rules.js';
import type { ClientCertificate } from '../certificates/client-certificate.js';
import type { CcmEvent } from '@ccm/event-consumer/contract';
import type { Page } from '../shared/page.js';

export interface Device {
  readonly id: string;
  readonly tenantId: string;
  readonly authorityId: string;
  /** What the CA's identity rules read from a certificate subject (the CN by default); unique per CA. */
  readonly identity: string;
  readonly deviceType: string | null;
  /** The one certificate this identity accepts once bound; null while registered and not yet seen. */
  readonly certificateId: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface FirstSightRequest {
  readonly authority: Authority;
  readonly identity: DeviceIdentity;
  /** The certificate as it is recorded when this sight binds it: state active, key source external. */
  readonly certificate: ClientCertificate;
  /** Its certificate.activated event, written with the binding. */
  readonly event: CcmEvent;
  /** The id a device registered by this sight gets; unused when the device exists. */
  readonly newDeviceId: string;
  readonly at: Date;
}

/** What a first sight of a certificate under an external or delegated CA came to. */
export type FirstSight =
  /** This request bound the certificate (and registered the device, in self-registration): the event was written. */
  | { readonly outcome: 'bound'; readonly device: Device; readonly certificate: ClientCertificate }
  /** A concurrent request bound this same certificate first; nothing was written. */
  | { readonly outcome: 'already-bound'; readonly device: Device; readonly certificate: ClientCertificate }
  /** Pre-registration only, and no device has this identity. */
  | { readonly outcome: 'not-registered' }
  /** The identity is bound to another certificate. */
  | { readonly outcome: 'bound-elsewhere'; readonly device: Device }
  /** The device was registered with another type than the certificate names. */
  | { readonly outcome: 'type-mismatch'; readonly device: Device }
  /** ccm already has a record of this very certificate, not bound to this device (revoked with a CA removed earlier, or an unregistered device). */
  | { readonly outcome: 'already-recorded'; readonly certificate: ClientCertificate }
  /** The CA gave this serial number to another certificate that ccm recorded (RFC 5280 §4.1.2.2 wants them unique). */
  | { readonly outcome: 'serial-taken' };

export interface DeviceCertificateRevocation {
  readonly certificateId: string;
  /** The certificate.revoked event, written only if this revocation is the one that revoked it. */
  readonly event: CcmEvent;
  readonly at: Date;
}

export abstract class DeviceRepository {
  /**
   * In one transaction: registers the device when the CA takes
   * self-registration and it is new, records the certificate and binds it to
   * the device when the device has none yet, and writes the event. Concurrent
   * first sights of one device are serialised on the device row: exactly one
   * binds, the others find its binding. A device registered with a type
   * accepts only certificates that name no type or the same type.
   */
  abstract bindOnFirstSight(request: FirstSightRequest, selfRegistration: boolean): Promise<FirstSight>;
  /** Pre-registration; `conflict` when the CA has a device with this identity already. */
  abstract register(device: Device): Promise<void>;
  abstract findById(tenantId: string, authorityId: string, deviceId: string): Promise<Device | null>;
  abstract findByCertificate(certificateId: string): Promise<Device | null>;
  abstract list(tenantId: string, authorityId: string, after: string | null, limit: number): Promise<Page<Device>>;
  /**
   * Removes the device and, in the same transaction, revokes its bound
   * certificate unless it is revoked already (then no event). False when the
   * device was gone already.
   */
  abstract unregister(device: Device, revocation: DeviceCertificateRevocation | null): Promise<{ removed: boolean; revokedCertificate: boolean }>;
}
