/**
 * Certificate life cycle and events: revocation bookkeeping on authorities
 * and certificates, the transactional outbox, event subscribers (one durable
 * queue each) and the current CRL of each issuing CA.
 */
import { Table, TableColumn, TableIndex, type MigrationInterface, type QueryRunner, type TableColumnOptions } from 'typeorm';

const time = (name: string, isNullable = false): TableColumnOptions => ({ name, type: 'varchar', length: '32', isNullable });

export class LifeCycleAndEvents1764100000000 implements MigrationInterface {
  name = 'LifeCycleAndEvents1764100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
    const counter = queryRunner.connection.options.type === 'postgres' ? 'bigint' : 'integer';
    await queryRunner.addColumns('authorities', [
      new TableColumn({ name: 'revoked_at', type: 'varchar', length: '32', isNullable: true }),
      new TableColumn({ name: 'revocation_reason', type: 'varchar', length: '32', isNullable: true }),
      // Bumped in the same transaction as every suspension, reactivation or revocation under this CA: the CRL is stale when it differs.
      new TableColumn({ name: 'revocation_version', type: 'integer', default: 0 }),
    ]);
    await queryRunner.addColumns('certificates', [new TableColumn({ name: 'suspended_at', type: 'varchar', length: '32', isNullable: true })]);
    await queryRunner.createIndex('certificates', new TableIndex({ name: 'ix_certificates_authority_state', columnNames: ['authority_id', 'state'] }));
    await queryRunner.createIndex('authorities', new TableIndex({ name: 'ix_authorities_subject', columnNames: ['subject'] }));
    await queryRunner.createTable(
      new Table({
        name: 'outbox',
        columns: [
          // Assigned under a lock held to commit, so positions are in commit order and a reader never skips a late commit.
          { name: 'position', type: counter, isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
          { name: 'id', type: 'varchar', length: '36' },
          { name: 'type', type: 'varchar', length: '32' },
          { name: 'tenant_id', type: 'varchar', length: '36' },
          { name: 'authority_id', type: 'varchar', length: '36' },
          { name: 'certificate_id', type: 'varchar', length: '36', isNullable: true },
          time('occurred_at'),
          { name: 'payload', type: 'text' },
        ],
        indices: [new TableIndex({ name: 'uq_outbox_id', columnNames: ['id'], isUnique: true }), new TableIndex({ name: 'ix_outbox_tenant', columnNames: ['tenant_id', 'position'] })],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'event_subscribers',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'name', type: 'varchar', length: '128' },
          { name: 'tenant_ids', type: 'text', isNullable: true },
          // The last outbox position handed to this subscriber's queue.
          { name: 'delivered_position', type: counter, default: 0 },
          time('created_at'),
          time('updated_at'),
        ],
        indices: [new TableIndex({ name: 'uq_event_subscribers_name', columnNames: ['name'], isUnique: true })],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'revocation_lists',
        columns: [
          { name: 'authority_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'crl_number', type: counter },
          { name: 'revocation_version', type: 'integer' },
          time('this_update'),
          time('next_update'),
          { name: 'der_base64', type: 'text' },
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('revocation_lists');
    await queryRunner.dropTable('event_subscribers');
    await queryRunner.dropTable('outbox');
    await queryRunner.dropIndex('authorities', 'ix_authorities_subject');
    await queryRunner.dropIndex('certificates', 'ix_certificates_authority_state');
    await queryRunner.dropColumn('certificates', 'suspended_at');
    await queryRunner.dropColumns('authorities', ['revocation_version', 'revocation_reason', 'revoked_at']);
  }
}
