/**
 * First schema: tenants, authorities (platform and tenant CAs) and client
 * certificate metadata. Written with TypeORM's schema API rather than SQL so
 * that one migration serves PostgreSQL and SQLite.
 */
import { Table, TableForeignKey, TableIndex, type MigrationInterface, type QueryRunner, type TableColumnOptions } from 'typeorm';

const id = (name = 'id'): TableColumnOptions => ({ name, type: 'varchar', length: '36', isPrimary: name === 'id' });
const time = (name: string, isNullable = false): TableColumnOptions => ({ name, type: 'varchar', length: '32', isNullable });

export class InitialSchema1764000000000 implements MigrationInterface {
  name = 'InitialSchema1764000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'tenants',
        columns: [id(), { name: 'name', type: 'varchar', length: '128' }, { name: 'max_ttl_seconds', type: 'integer', isNullable: true }, time('created_at')],
        indices: [new TableIndex({ name: 'uq_tenants_name', columnNames: ['name'], isUnique: true })],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'authorities',
        columns: [
          id(),
          { ...id('tenant_id'), isNullable: true },
          { name: 'kind', type: 'varchar', length: '16' },
          { name: 'singleton', type: 'varchar', length: '16', isNullable: true },
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'custody_key_name', type: 'varchar', length: '128' },
          { name: 'key_algorithm', type: 'varchar', length: '16' },
          { name: 'subject', type: 'text' },
          { name: 'serial_number', type: 'varchar', length: '42', isNullable: true },
          { name: 'certificate_pem', type: 'text', isNullable: true },
          { name: 'issuer_chain_pem', type: 'text', isNullable: true },
          { name: 'fingerprint_sha256', type: 'varchar', length: '64', isNullable: true },
          time('not_before', true),
          time('not_after', true),
          { ...id('issuer_authority_id'), isNullable: true },
          time('created_at'),
          time('updated_at'),
        ],
        indices: [
          new TableIndex({ name: 'uq_authorities_singleton', columnNames: ['singleton'], isUnique: true }),
          new TableIndex({ name: 'ix_authorities_tenant', columnNames: ['tenant_id', 'kind', 'status'] }),
        ],
        foreignKeys: [new TableForeignKey({ name: 'fk_authorities_tenant', columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] })],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'certificates',
        columns: [
          id(),
          id('tenant_id'),
          id('authority_id'),
          { name: 'serial_number', type: 'varchar', length: '42' },
          { name: 'state', type: 'varchar', length: '16' },
          { name: 'fingerprint_sha256', type: 'varchar', length: '64', isNullable: true },
          { name: 'fingerprint_sha1', type: 'varchar', length: '40', isNullable: true },
          { name: 'subject', type: 'text' },
          { name: 'common_name', type: 'varchar', length: '255' },
          { name: 'subject_alt_names', type: 'text' },
          time('not_before'),
          time('not_after'),
          { name: 'key_algorithm', type: 'varchar', length: '16' },
          { name: 'public_key_sha256', type: 'varchar', length: '64' },
          { name: 'key_source', type: 'varchar', length: '8' },
          time('issued_at', true),
          time('first_used_at', true),
          time('last_used_at', true),
          time('revoked_at', true),
          { name: 'revocation_reason', type: 'varchar', length: '32', isNullable: true },
          time('created_at'),
          time('updated_at'),
        ],
        indices: [
          // Serials are 128-bit random, so unique across the installation, not just per issuer.
          new TableIndex({ name: 'uq_certificates_serial', columnNames: ['serial_number'], isUnique: true }),
          new TableIndex({ name: 'uq_certificates_fingerprint', columnNames: ['fingerprint_sha256'], isUnique: true }),
          new TableIndex({ name: 'ix_certificates_tenant_id', columnNames: ['tenant_id', 'id'] }),
          new TableIndex({ name: 'ix_certificates_tenant_cn', columnNames: ['tenant_id', 'common_name'] }),
          new TableIndex({ name: 'ix_certificates_tenant_state', columnNames: ['tenant_id', 'state', 'id'] }),
        ],
        foreignKeys: [
          new TableForeignKey({ name: 'fk_certificates_tenant', columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] }),
          new TableForeignKey({ name: 'fk_certificates_authority', columnNames: ['authority_id'], referencedTableName: 'authorities', referencedColumnNames: ['id'] }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('certificates');
    await queryRunner.dropTable('authorities');
    await queryRunner.dropTable('tenants');
  }
}
