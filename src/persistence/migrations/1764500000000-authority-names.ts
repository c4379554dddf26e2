/**
 * Every CA's subject in its RFC 5280 §7.1 comparable form (subject_key),
 * looked up by device authentication, and unique among the CAs in force: no
 * two CAs a verifier could take for one another. OCSP responders are left
 * out of the index since the generations of one CA's responder shared a name
 * before ccm gave each its own; the application refuses a tenant's CA named
 * like any of them.
 *
 * A database whose CAs in force already collide cannot take the index: the
 * migration stops, listing them, and changes nothing. `ccm authorities
 * check-names` lists the same before an upgrade (README, "Operator CLI": CAs recorded with one name before names were unique).
 */
import { TableColumn, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { authorityNameCollisions, describeCollision } from '../../authorities/authority-names.js';
import { comparableSubject } from '../../codec/name-comparison.js';
import { readNamedAuthorities } from '../named-authorities.js';

export class AuthorityNames1764500000000 implements MigrationInterface {
  name = 'AuthorityNames1764500000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const rows = await readNamedAuthorities((sql) => queryRunner.query(sql));
    const blocking = authorityNameCollisions(rows).filter((collision) => collision.blocking);
    if (blocking.length > 0) {
      throw new Error(
        `${blocking.length} name(s) are held by more than one CA in force, which ccm no longer allows (a device certificate could be taken for another tenant's). ` +
          `Remove (DELETE /v1/tenants/{tenantId}/authorities/{id}) all but one CA of each name with the previous version, then migrate again:\n${blocking.map(describeCollision).join('\n')}`,
      );
    }
    await queryRunner.addColumn('authorities', new TableColumn({ name: 'subject_key', type: 'text', isNullable: true }));
    const update = queryRunner.connection.options.type === 'postgres' ? 'UPDATE authorities SET subject_key = $1 WHERE id = $2' : 'UPDATE authorities SET subject_key = ? WHERE id = ?';
    for (const row of rows) await queryRunner.query(update, [comparableSubject(row.subject), row.id]);
    await queryRunner.dropIndex('authorities', 'ix_authorities_subject');
    await queryRunner.createIndex('authorities', new TableIndex({ name: 'ix_authorities_subject_key', columnNames: ['subject_key'] }));
    // The statuses of that release, written out: a later migration widened the index when CAs could be retiring.
    const live = "'pending', 'active'";
    await queryRunner.createIndex(
      'authorities',
      new TableIndex({ name: 'uq_authorities_subject_key', columnNames: ['subject_key'], isUnique: true, where: `status IN (${live}) AND kind <> 'ocsp-responder'` }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('authorities', 'uq_authorities_subject_key');
    await queryRunner.dropIndex('authorities', 'ix_authorities_subject_key');
    await queryRunner.createIndex('authorities', new TableIndex({ name: 'ix_authorities_subject', columnNames: ['subject'] }));
    await queryRunner.dropColumn('authorities', 'subject_key');
  }
}
