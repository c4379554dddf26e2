/**
 * Tenant roots that roll over (src/authorities/roll-over-tenant-root.ts): a
 * root that another replaced is retiring, keeps its name while its
 * certificates are in force, and is retired once they have all expired.
 *
 * - uq_authorities_subject_key now holds the names of published and
 *   retiring CAs too, so that no other CA takes the name of one in force.
 * - uq_authorities_tenant_root_status: per tenant, at most one active root,
 *   one being signed and one published (awaiting activation). The first
 *   makes "which root signs" a single answer; the others let only one of
 *   two concurrent rollovers of a tenant record its new root (the other is
 *   refused, 409).
 */
import { TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

export class TenantRootRollover1764600000000 implements MigrationInterface {
  name = 'TenantRootRollover1764600000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('authorities', 'uq_authorities_subject_key');
    await queryRunner.createIndex(
      'authorities',
      new TableIndex({ name: 'uq_authorities_subject_key', columnNames: ['subject_key'], isUnique: true, where: "status IN ('pending', 'active', 'published', 'retiring') AND kind <> 'ocsp-responder'" }),
    );
    await queryRunner.createIndex(
      'authorities',
      new TableIndex({ name: 'uq_authorities_tenant_root_status', columnNames: ['tenant_id', 'status'], isUnique: true, where: "kind = 'tenant-root' AND status IN ('pending', 'published', 'active')" }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('authorities', 'uq_authorities_tenant_root_status');
    await queryRunner.dropIndex('authorities', 'uq_authorities_subject_key');
    await queryRunner.createIndex(
      'authorities',
      new TableIndex({ name: 'uq_authorities_subject_key', columnNames: ['subject_key'], isUnique: true, where: "status IN ('pending', 'active') AND kind <> 'ocsp-responder'" }),
    );
  }
}
