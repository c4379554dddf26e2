/**
 * DeviceRepository on TypeORM. First sight is one transaction serialised on
 * the device row: on PostgreSQL an INSERT … ON CONFLICT DO NOTHING (which
 * waits for a concurrent insert of the same identity to commit) and then
 * SELECT … FOR UPDATE, so of several first connections of one new device
 * exactly one registers and binds it; SQLite runs one transaction at a time.
 */
import { Injectable } from '@nestjs/common';
import { DataSource, In, MoreThan, type EntityManager } from 'typeorm';
import { CertificateTransitionMetrics } from '../metrics/metrics.js';
import type { Page } from '../shared/page.js';
import { DeviceRepository, type Device, type DeviceCertificateRevocation, type FirstSight, type FirstSightRequest } from '../trust/device.js';
import { DomainError } from '../shared/errors.js';
import { AuthorityRow, CertificateRow, DeviceRow } from './entities.js';
import { EntityColumns, PreparedQuery } from './prepared-query.js';
import { toClientCertificate } from './typeorm-certificate.repository.js';
import { appendToOutbox } from './typeorm-outbox.js';
import { Transactions } from './transactions.js';
import { isUniqueViolation } from './unique-violation.js';

function toDevice(row: DeviceRow): Device {
  return {
    id: row.id,
    tenantId: row.tenantId,
    authorityId: row.authorityId,
    identity: row.identity,
    deviceType: row.deviceType,
    certificateId: row.certificateId,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

@Injectable()
export class TypeormDeviceRepository extends DeviceRepository {
  /** Built on first use, once the entity metadata exists. */
  private boundDevice: { readonly query: PreparedQuery; readonly columns: EntityColumns<DeviceRow> } | null = null;

  constructor(
    private readonly dataSource: DataSource,
    private readonly transactions: Transactions,
    private readonly transitions: CertificateTransitionMetrics,
  ) {
    super();
  }

  async bindOnFirstSight(request: FirstSightRequest, selfRegistration: boolean): Promise<FirstSight> {
    const sight = await this.bind(request, selfRegistration);
    // Recorded as active with a certificate.activated event: counted as the activation that event announces.
    if (sight.outcome === 'bound') this.transitions.transitioned('inactive', 'active', 1);
    return sight;
  }

  private bind(request: FirstSightRequest, selfRegistration: boolean): Promise<FirstSight> {
    const { authority, identity, certificate, at } = request;
    return this.transactions.run(async (manager) => {
      if (selfRegistration) {
        await manager
          .createQueryBuilder()
          .insert()
          .into(DeviceRow)
          .values({ id: request.newDeviceId, tenantId: authority.tenantId!, authorityId: authority.id, identity: identity.identity, deviceType: identity.deviceType, certificateId: null, createdAt: at, updatedAt: at })
          .orIgnore()
          .execute();
      }
      const row = await this.lockedDevice(manager, authority.id, identity.identity);
      if (!row) return { outcome: 'not-registered' };
      const device = toDevice(row);
      if (row.certificateId !== null) {
        const bound = await manager.findOneBy(CertificateRow, { id: row.certificateId });
        if (bound && bound.fingerprintSha256 === certificate.fingerprintSha256) return { outcome: 'already-bound', device, certificate: toClientCertificate(bound) };
        return { outcome: 'bound-elsewhere', device };
      }
      if (row.deviceType !== null && identity.deviceType !== null && row.deviceType !== identity.deviceType) return { outcome: 'type-mismatch', device };
      const recorded = await manager.findOneBy(CertificateRow, { fingerprintSha256: certificate.fingerprintSha256! });
      if (recorded) return { outcome: 'already-recorded', certificate: toClientCertificate(recorded) };
      if (await manager.existsBy(CertificateRow, { authorityId: authority.id, serialNumber: certificate.serialNumber })) return { outcome: 'serial-taken' };

      await manager.insert(CertificateRow, Object.assign(new CertificateRow(), certificate, { subjectAltNames: { ...certificate.subjectAltNames } }));
      const deviceType = row.deviceType ?? identity.deviceType;
      await manager.update(DeviceRow, { id: row.id }, { certificateId: certificate.id, deviceType, updatedAt: at });
      await appendToOutbox(manager, request.event);
      return { outcome: 'bound', device: { ...device, certificateId: certificate.id, deviceType, updatedAt: at }, certificate };
    });
  }

  async register(device: Device): Promise<void> {
    try {
      await this.transactions.run((manager) => manager.insert(DeviceRow, Object.assign(new DeviceRow(), device)));
    } catch (error) {
      if (isUniqueViolation(error)) throw new DomainError('conflict', `a device "${device.identity}" is registered under this CA already`, { field: 'identity' });
      throw error;
    }
  }

  async findById(tenantId: string, authorityId: string, deviceId: string): Promise<Device | null> {
    const row = await this.dataSource.getRepository(DeviceRow).findOneBy({ tenantId, authorityId, id: deviceId });
    return row ? toDevice(row) : null;
  }

  // Every authentication of a device of a tenant-held CA: a prepared statement on ix_devices_certificate.
  async findByCertificate(certificateId: string): Promise<Device | null> {
    if (!this.boundDevice) {
      const columns = new EntityColumns(this.dataSource, DeviceRow, 'd');
      this.boundDevice = { columns, query: new PreparedQuery(this.dataSource, `SELECT ${columns.select} FROM devices d WHERE d.certificate_id = $1`) };
    }
    const [row] = await this.boundDevice.query.rows([certificateId]);
    return row ? toDevice(this.boundDevice.columns.read(row)!) : null;
  }

  async list(tenantId: string, authorityId: string, after: string | null, limit: number): Promise<Page<Device>> {
    const rows = await this.dataSource.getRepository(DeviceRow).find({
      where: { tenantId, authorityId, ...(after ? { id: MoreThan(after) } : {}) },
      order: { id: 'ASC' },
      take: limit + 1,
    });
    const items = rows.slice(0, limit).map(toDevice);
    return { items, nextCursor: rows.length > limit ? items[items.length - 1]!.id : null };
  }

  async unregister(device: Device, revocation: DeviceCertificateRevocation | null): Promise<{ removed: boolean; revokedCertificate: boolean }> {
    const outcome = await this.remove(device, revocation);
    if (outcome.revokedCertificate) this.transitions.transitioned('any', 'revoked', 1);
    return outcome;
  }

  private remove(device: Device, revocation: DeviceCertificateRevocation | null): Promise<{ removed: boolean; revokedCertificate: boolean }> {
    return this.transactions.run(async (manager) => {
      const removed = await manager.delete(DeviceRow, { id: device.id });
      if ((removed.affected ?? 0) !== 1) return { removed: false, revokedCertificate: false };
      if (!revocation) return { removed: true, revokedCertificate: false };
      // Whatever state it is in now (a concurrent suspension, say), short of revoked: a revocation that finds it revoked wrote its own event.
      const revoked = await manager.update(
        CertificateRow,
        { id: revocation.certificateId, state: In(['inactive', 'active', 'suspended']) },
        { state: 'revoked', revokedAt: revocation.at, revocationReason: revocation.event.reason, suspendedAt: null, updatedAt: revocation.at },
      );
      if ((revoked.affected ?? 0) !== 1) return { removed: true, revokedCertificate: false };
      await manager.increment(AuthorityRow, { id: device.authorityId }, 'revocationVersion', 1);
      await appendToOutbox(manager, revocation.event);
      return { removed: true, revokedCertificate: true };
    });
  }

  private lockedDevice(manager: EntityManager, authorityId: string, identity: string): Promise<DeviceRow | null> {
    const query = manager.getRepository(DeviceRow).createQueryBuilder('device').where('device.authority_id = :authorityId AND device.identity = :identity', { authorityId, identity });
    // SQLite has no row locks and needs none: its transactions never overlap (transactions.ts).
    if (manager.connection.options.type === 'postgres') query.setLock('pessimistic_write');
    return query.getOne();
  }
}
