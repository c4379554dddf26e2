/**
 * The devices of an external or delegated CA, as the tenant manages them:
 * pre-registration (the only way in when the CA takes pre-registered devices
 * only), listing, and unregistering, which revokes the certificate bound to
 * the device (one certificate.revoked event) so the identity is free again.
 */
import { Injectable } from '@nestjs/common';
import type { Authority } from '../authorities/authority.js';
import { CertificateRepository } from '../certificates/client-certificate.js';
import { OutboxWakeup } from '../events/outbox-wakeup.js';
import { transitionOf } from '../lifecycle/certificate-transition.js';
import { certificateEvent } from '../lifecycle/life-cycle-events.js';
import { subjectTextProblem } from '../codec/subject-text.js';
import { Clock } from '../shared/clock.js';
import { DomainError, InvalidRequest, NotFound } from '../shared/errors.js';
import { newId } from '../shared/identifiers.js';
import type { Page } from '../shared/page.js';
import { DeviceRepository, type Device, type DeviceCertificateRevocation } from './device.js';
import { isTenantHeldAuthority, TrustedAuthorityRepository } from './trusted-authority.js';

export interface RegisterDeviceCommand {
  readonly tenantId: string;
  readonly authorityId: string;
  readonly identity: string;
  readonly deviceType?: string | null;
}

/** The devices table's bounds, in characters. */
const MAXIMUM_IDENTITY_LENGTH = 255;
const MAXIMUM_DEVICE_TYPE_LENGTH = 128;

@Injectable()
export class DeviceRegistry {
  constructor(
    private readonly trusted: TrustedAuthorityRepository,
    private readonly devices: DeviceRepository,
    private readonly certificates: CertificateRepository,
    private readonly wakeup: OutboxWakeup,
    private readonly clock: Clock,
  ) {}

  async register(command: RegisterDeviceCommand): Promise<Device> {
    const authority = await this.tenantHeld(command.tenantId, command.authorityId);
    if (authority.status !== 'active') throw new DomainError('conflict', `the CA is ${authority.status}: it registers no devices`, { state: authority.status });
    checkDeviceName(command.identity, 'identity', MAXIMUM_IDENTITY_LENGTH);
    const deviceType = command.deviceType ?? null;
    if (deviceType !== null) checkDeviceName(deviceType, 'deviceType', MAXIMUM_DEVICE_TYPE_LENGTH);
    const now = this.clock.now();
    const device: Device = { id: newId(), tenantId: command.tenantId, authorityId: authority.id, identity: command.identity, deviceType, certificateId: null, createdAt: now, updatedAt: now };
    await this.devices.register(device);
    return device;
  }

  async list(tenantId: string, authorityId: string, after: string | null, limit: number): Promise<Page<Device>> {
    await this.tenantHeld(tenantId, authorityId);
    return this.devices.list(tenantId, authorityId, after, limit);
  }

  async unregister(tenantId: string, authorityId: string, deviceId: string): Promise<{ revokedCertificate: boolean }> {
    const authority = await this.tenantHeld(tenantId, authorityId);
    const device = await this.devices.findById(tenantId, authority.id, deviceId);
    if (!device) throw new NotFound('device');
    const revocation = await this.revocationOf(device, authority);
    const result = await this.devices.unregister(device, revocation);
    if (!result.removed) throw new NotFound('device');
    if (result.revokedCertificate) this.wakeup.notify();
    return { revokedCertificate: result.revokedCertificate };
  }

  /** The bound certificate's revocation (cessationOfOperation: the device is gone), unless it is revoked already. */
  private async revocationOf(device: Device, authority: Authority): Promise<DeviceCertificateRevocation | null> {
    if (device.certificateId === null) return null;
    const certificate = await this.certificates.findById(device.tenantId, device.certificateId);
    if (!certificate || certificate.state === 'revoked') return null;
    const at = this.clock.now();
    const transition = transitionOf(certificate, { kind: 'revoke', reason: 'cessationOfOperation' }, at);
    return { certificateId: certificate.id, event: certificateEvent(certificate, authority, transition), at };
  }

  private async tenantHeld(tenantId: string, authorityId: string): Promise<Authority> {
    const authority = await this.trusted.findOfTenant(tenantId, authorityId);
    if (!authority) throw new NotFound('authority');
    // ccm's own certificates need no device record: the tenant root has no device registry.
    if (!isTenantHeldAuthority(authority)) throw new DomainError('conflict', 'devices are registered under external and delegated CAs only', { kind: authority.kind });
    return authority;
  }
}

/** The text a certificate subject would carry for the device (mapDeviceIdentity refuses the same), within the column's bound. */
function checkDeviceName(value: string, field: 'identity' | 'deviceType', maximumLength: number): void {
  const characters = [...value].length;
  if (characters === 0 || characters > maximumLength) throw new InvalidRequest(`${field} must be 1 to ${maximumLength} characters`, { field });
  const problem = subjectTextProblem(value);
  if (problem !== null) throw new InvalidRequest(`${field} ${problem}`, { field });
}
