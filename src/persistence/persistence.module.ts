/**
 * Persistence: owns the database connection and binds the repository ports
 * of the domain to their TypeORM adapters. Only this module touches TypeORM.
 */
import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuthorityRepository } from '../authorities/authority.js';
import { CertificateRepository } from '../certificates/client-certificate.js';
import { CONFIGURATION } from '../config/configuration.module.js';
import type { Configuration } from '../config/configuration.js';
import { TenantRepository } from '../tenants/tenant.js';
import { openDatabase } from './data-source.js';
import { DatabaseTransactions, Transactions } from './transactions.js';
import { TypeormAuthorityRepository } from './typeorm-authority.repository.js';
import { TypeormCertificateRepository } from './typeorm-certificate.repository.js';
import { TypeormTenantRepository } from './typeorm-tenant.repository.js';

@Global()
@Module({
  providers: [
    { provide: DataSource, inject: [CONFIGURATION], useFactory: (config: Configuration) => openDatabase(config.database) },
    { provide: Transactions, inject: [DataSource], useFactory: (dataSource: DataSource) => new DatabaseTransactions(dataSource) },
    { provide: TenantRepository, useClass: TypeormTenantRepository },
    { provide: AuthorityRepository, useClass: TypeormAuthorityRepository },
    { provide: CertificateRepository, useClass: TypeormCertificateRepository },
  ],
  exports: [DataSource, Transactions, TenantRepository, AuthorityRepository, CertificateRepository],
})
export class PersistenceModule implements OnApplicationShutdown {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}
