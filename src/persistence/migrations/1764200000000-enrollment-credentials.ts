/** EST enrollment credentials: what a tenant hands its devices (or factory) to enroll themselves. Secrets are stored as scrypt hashes only. */
import { Table, TableForeignKey, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

export class EnrollmentCredentials1764200000000 implements MigrationInterface {
  name = 'EnrollmentCredentials1764200000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'enrollment_credentials',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'tenant_id', type: 'varchar', length: '36' },
          { name: 'name', type: 'varchar', length: '128' },
          { name: 'secret_hash', type: 'varchar', length: '160' },
          { name: 'created_at', type: 'varchar', length: '32' },
          { name: 'revoked_at', type: 'varchar', length: '32', isNullable: true },
        ],
        indices: [new TableIndex({ name: 'ix_enrollment_credentials_tenant', columnNames: ['tenant_id', 'id'] })],
        foreignKeys: [new TableForeignKey({ name: 'fk_enrollment_credentials_tenant', columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] })],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('enrollment_credentials');
  }
}
