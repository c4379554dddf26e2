/**
 * Who may do what, and which CAs a tenant trusts: API credentials (secret
 * hashes only), the audit log, devices bound to certificates of external and
 * delegated CAs, and per-CA identity rules and registration mode; serial
 * numbers unique per issuing CA.
 */
import { Table, TableColumn, TableForeignKey, TableIndex, type MigrationInterface, type QueryRunner, type TableColumnOptions } from 'typeorm';

const time = (name: string, isNullable = false): TableColumnOptions => ({ name, type: 'varchar', length: '32', isNullable });

export class AccessAndTrust1764400000000 implements MigrationInterface {
  name = 'AccessAndTrust1764400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const counter = queryRunner.connection.options.type === 'postgres' ? 'bigint' : 'integer';
    await queryRunner.createTable(
      new Table({
        name: 'api_credentials',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'name', type: 'varchar', length: '128' },
          { name: 'role', type: 'varchar', length: '16' },
          { name: 'tenant_id', type: 'varchar', length: '36', isNullable: true },
          // SHA-256 of the key's 32 random bytes: the key itself is shown once and kept nowhere.
          { name: 'secret_hash', type: 'varchar', length: '64' },
          time('created_at'),
          { name: 'created_by', type: 'varchar', length: '36', isNullable: true },
          time('revoked_at', true),
          time('last_used_at', true),
        ],
        indices: [new TableIndex({ name: 'ix_api_credentials_tenant', columnNames: ['tenant_id', 'id'] })],
        foreignKeys: [new TableForeignKey({ name: 'fk_api_credentials_tenant', columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] })],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'audit_log',
        columns: [
          { name: 'position', type: counter, isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
          { name: 'id', type: 'varchar', length: '36' },
          time('occurred_at'),
          { name: 'tenant_id', type: 'varchar', length: '36', isNullable: true },
          // Who: "bootstrap-admin", or "<role>:<credential id>"; never a key.
          { name: 'actor', type: 'varchar', length: '64' },
          { name: 'action', type: 'varchar', length: '48' },
          { name: 'target_type', type: 'varchar', length: '32', isNullable: true },
          { name: 'target_id', type: 'varchar', length: '128', isNullable: true },
          { name: 'outcome', type: 'varchar', length: '16' },
          { name: 'reason', type: 'varchar', length: '64', isNullable: true },
          { name: 'details', type: 'text', isNullable: true },
        ],
        indices: [
          new TableIndex({ name: 'uq_audit_log_id', columnNames: ['id'], isUnique: true }),
          new TableIndex({ name: 'ix_audit_log_tenant', columnNames: ['tenant_id', 'position'] }),
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'devices',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'tenant_id', type: 'varchar', length: '36' },
          { name: 'authority_id', type: 'varchar', length: '36' },
          { name: 'identity', type: 'varchar', length: '255' },
          { name: 'device_type', type: 'varchar', length: '128', isNullable: true },
          // The one certificate this identity accepts once bound; null while pre-registered and not yet seen.
          { name: 'certificate_id', type: 'varchar', length: '36', isNullable: true },
          time('created_at'),
          time('updated_at'),
        ],
        indices: [
          new TableIndex({ name: 'uq_devices_authority_identity', columnNames: ['authority_id', 'identity'], isUnique: true }),
          new TableIndex({ name: 'ix_devices_tenant', columnNames: ['tenant_id', 'id'] }),
          // Authentication finds the device a certificate is bound to on every connection of a device of a tenant-held CA.
          new TableIndex({ name: 'ix_devices_certificate', columnNames: ['certificate_id'] }),
        ],
        foreignKeys: [
          new TableForeignKey({ name: 'fk_devices_tenant', columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] }),
          new TableForeignKey({ name: 'fk_devices_authority', columnNames: ['authority_id'], referencedTableName: 'authorities', referencedColumnNames: ['id'] }),
        ],
      }),
    );
    await queryRunner.addColumns('authorities', [
      // JSON: which subject attributes give the device identity and type, and the CSR subject policy. NULL: the defaults (CN, no type, no policy).
      new TableColumn({ name: 'identity_rules', type: 'text', isNullable: true }),
      // External and delegated CAs: "self" (devices register on first connection) or "preregistered".
      new TableColumn({ name: 'registration', type: 'varchar', length: '16', isNullable: true }),
      new TableColumn({ name: 'name', type: 'varchar', length: '128', isNullable: true }),
    ]);
    // Certificates of external and delegated CAs carry serials their own CA chose (often small counters), so a
    // serial is unique per issuing CA (RFC 5280 §4.1.2.2), no longer across the installation.
    await queryRunner.dropIndex('certificates', 'uq_certificates_serial');
    await queryRunner.createIndex('certificates', new TableIndex({ name: 'uq_certificates_authority_serial', columnNames: ['authority_id', 'serial_number'], isUnique: true }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('certificates', 'uq_certificates_authority_serial');
    await queryRunner.createIndex('certificates', new TableIndex({ name: 'uq_certificates_serial', columnNames: ['serial_number'], isUnique: true }));
    await queryRunner.dropColumns('authorities', ['identity_rules', 'registration', 'name']);
    await queryRunner.dropTable('devices');
    await queryRunner.dropTable('audit_log');
    await queryRunner.dropTable('api_credentials');
  }
}
