/**
 * Persistence: owns the database connection and binds the repository ports
 * of the domain to their TypeORM adapters. Only this module touches TypeORM.
 */
import { Global, Inject, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ApiCredentialRepository } from '../access/api-credential.js';
import { AuditTrail } from '../audit/audit-trail.js';
import { AuthorityRepository } from '../authorities/authority.js';
import { CertificateRepository } from '../certificates/client-certificate.js';
import { CONFIGURATION } from '../config/configuration.module.js';
import type { Configuration } from '../config/configuration.js';
import { EnrollmentCredentialRepository } from '../enrollment/enrollment-credential.js';
import { EventOutbox } from '../events/event-outbox.js';
import { EventRelayStore } from '../events/event-relay-store.js';
import { EventSubscriberRepository } from '../events/event-subscriber.js';
import { OutboxWakeup } from '../events/outbox-wakeup.js';
import { DatabaseProbe } from '../health/database-probe.js';
import { LifeCycleStore } from '../lifecycle/life-cycle-store.js';
import { OutboxBacklog } from '../metrics/outbox-backlog.js';
import { RevocationListStore } from '../revocation/revocation-list-store.js';
import { TenantRepository } from '../tenants/tenant.js';
import { DeviceRepository } from '../trust/device.js';
import { TrustedAuthorityRepository } from '../trust/trusted-authority.js';
import { openDatabase } from './data-source.js';
import { PostgresOutboxNotifications } from './postgres-outbox-notifications.js';
import { DatabaseTransactions, Transactions } from './transactions.js';
import { TypeormApiCredentialRepository } from './typeorm-api-credential.repository.js';
import { TypeormAuditTrail } from './typeorm-audit-trail.js';
import { TypeormAuthorityRepository } from './typeorm-authority.repository.js';
import { TypeormCertificateRepository } from './typeorm-certificate.repository.js';
import { TypeormDatabaseProbe } from './typeorm-database-probe.js';
import { TypeormDeviceRepository } from './typeorm-device.repository.js';
import { TypeormEnrollmentCredentialRepository } from './typeorm-enrollment-credential.repository.js';
import { TypeormEventRelayStore } from './typeorm-event-relay-store.js';
import { TypeormEventSubscriberRepository } from './typeorm-event-subscriber.repository.js';
import { TypeormLifeCycleStore } from './typeorm-life-cycle.store.js';
import { TypeormEventOutbox } from './typeorm-outbox.js';
import { TypeormOutboxBacklog } from './typeorm-outbox-backlog.js';
import { TypeormRevocationListStore } from './typeorm-revocation-list.store.js';
import { TypeormAbandonedIssuanceStore } from './typeorm-abandoned-issuance.store.js';
import { AbandonedIssuanceStore } from '../ca/abandoned-issuances.js';
import { TypeormTenantRepository } from './typeorm-tenant.repository.js';
import { TypeormTrustedAuthorityRepository } from './typeorm-trusted-authority.repository.js';

@Global()
@Module({
  providers: [
    { provide: DataSource, inject: [CONFIGURATION], useFactory: (config: Configuration) => openDatabase(config.database) },
    { provide: Transactions, inject: [DataSource], useFactory: (dataSource: DataSource) => new DatabaseTransactions(dataSource) },
    { provide: TenantRepository, useClass: TypeormTenantRepository },
    { provide: AuthorityRepository, useClass: TypeormAuthorityRepository },
    { provide: CertificateRepository, useClass: TypeormCertificateRepository },
    { provide: LifeCycleStore, useClass: TypeormLifeCycleStore },
    { provide: EventOutbox, useClass: TypeormEventOutbox },
    { provide: EventSubscriberRepository, useClass: TypeormEventSubscriberRepository },
    { provide: EventRelayStore, useClass: TypeormEventRelayStore },
    { provide: OutboxBacklog, useClass: TypeormOutboxBacklog },
    { provide: RevocationListStore, useClass: TypeormRevocationListStore },
    { provide: EnrollmentCredentialRepository, useClass: TypeormEnrollmentCredentialRepository },
    { provide: ApiCredentialRepository, useClass: TypeormApiCredentialRepository },
    { provide: TrustedAuthorityRepository, useClass: TypeormTrustedAuthorityRepository },
    { provide: DeviceRepository, useClass: TypeormDeviceRepository },
    { provide: AuditTrail, useClass: TypeormAuditTrail },
    { provide: DatabaseProbe, useClass: TypeormDatabaseProbe },
    { provide: AbandonedIssuanceStore, useClass: TypeormAbandonedIssuanceStore },
    {
      provide: PostgresOutboxNotifications,
      inject: [CONFIGURATION, OutboxWakeup],
      useFactory: (config: Configuration, wakeup: OutboxWakeup) => (config.database.kind === 'postgres' ? new PostgresOutboxNotifications(config.database.url, wakeup) : null),
    },
  ],
  exports: [DataSource, Transactions, TenantRepository, AuthorityRepository, CertificateRepository, LifeCycleStore, EventOutbox, EventSubscriberRepository, EventRelayStore, OutboxBacklog, RevocationListStore, EnrollmentCredentialRepository, ApiCredentialRepository, AuditTrail, TrustedAuthorityRepository, DeviceRepository, DatabaseProbe, AbandonedIssuanceStore],
})
export class PersistenceModule implements OnApplicationShutdown {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  async onApplicationShutdown(): Promise<void> {
    if (!this.dataSource.isInitialized) return;
    await this.dataSource.destroy();
    new Logger('PersistenceModule').log('database connections closed');
  }
}
