/**
 * CRL shards: each certificate records, at issuance, which CRL lists it
 * (0: the CA's single CRL). CRLs are kept per (CA, scope) instead of per CA;
 * the CRLs built so far move over as scope 0, keeping their numbers.
 */
import { Table, TableColumn, type MigrationInterface, type QueryRunner } from 'typeorm';

export class CrlShards1764300000000 implements MigrationInterface {
  name = 'CrlShards1764300000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn('certificates', new TableColumn({ name: 'crl_shard', type: 'integer', default: 0 }));
    const counter = queryRunner.connection.options.type === 'postgres' ? 'bigint' : 'integer';
    await queryRunner.createTable(crlTable('crl_scopes', counter, true));
    await queryRunner.query(
      'INSERT INTO crl_scopes (authority_id, scope, crl_number, revocation_version, this_update, next_update, der_base64) SELECT authority_id, 0, crl_number, revocation_version, this_update, next_update, der_base64 FROM revocation_lists',
    );
    await queryRunner.dropTable('revocation_lists');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const counter = queryRunner.connection.options.type === 'postgres' ? 'bigint' : 'integer';
    await queryRunner.createTable(crlTable('revocation_lists', counter, false));
    await queryRunner.query(
      'INSERT INTO revocation_lists (authority_id, crl_number, revocation_version, this_update, next_update, der_base64) SELECT authority_id, crl_number, revocation_version, this_update, next_update, der_base64 FROM crl_scopes WHERE scope = 0',
    );
    await queryRunner.dropTable('crl_scopes');
    await queryRunner.dropColumn('certificates', 'crl_shard');
  }
}

/** One stored CRL per row: per CA before this migration, per (CA, scope) after it. */
function crlTable(name: string, counter: string, scoped: boolean): Table {
  return new Table({
    name,
    columns: [
      { name: 'authority_id', type: 'varchar', length: '36', isPrimary: true },
      // A shard number, or -1 for the complete CRL of a sharded CA.
      ...(scoped ? [{ name: 'scope', type: 'integer', isPrimary: true }] : []),
      { name: 'crl_number', type: counter },
      { name: 'revocation_version', type: 'integer' },
      { name: 'this_update', type: 'varchar', length: '32' },
      { name: 'next_update', type: 'varchar', length: '32' },
      { name: 'der_base64', type: 'text' },
    ],
  });
}
