/** TrustedAuthorityRepository on TypeORM. */
import { Injectable } from '@nestjs/common';
import { DataSource, In, Not } from 'typeorm';
import { isInForce, type Authority } from '../authorities/authority.js';
import { DEVICE_ISSUING_KINDS, TrustedAuthorityRepository, type IssuerCandidate } from '../trust/trusted-authority.js';
import { AuthorityRow, CertificateRow } from './entities.js';
import { Coalescer } from '../shared/coalescer.js';
import { EntityColumns, PreparedQuery } from './prepared-query.js';
import { claimingAuthorityName, toAuthority, toAuthorityRow } from './typeorm-authority.repository.js';
import { toClientCertificate } from './typeorm-certificate.repository.js';
import { Transactions } from './transactions.js';

/** Lookups in one PostgreSQL statement at most, and statements out at once (the pool has 20 connections for everything). */
const MAXIMUM_LOOKUP_BATCH = 100;
const LOOKUP_BATCHES_IN_FLIGHT = 2;

interface CandidateKey {
  readonly subjectKey: string;
  readonly serialNumber: string;
}

/** Built on first use: the entity metadata exists once the DataSource is initialised. */
interface CandidateQuery {
  readonly authority: EntityColumns<AuthorityRow>;
  readonly certificate: EntityColumns<CertificateRow>;
  /** PostgreSQL: the lookups that arrive while earlier ones are out leave together, as one statement. */
  readonly batches: Coalescer<CandidateKey, IssuerCandidate[]> | null;
  /** SQLite: one statement per lookup; the database is in this process, there is no round trip to share. */
  readonly single: PreparedQuery | null;
}

@Injectable()
export class TypeormTrustedAuthorityRepository extends TrustedAuthorityRepository {
  private candidateQuery: CandidateQuery | null = null;

  constructor(
    private readonly dataSource: DataSource,
    private readonly transactions: Transactions,
  ) {
    super();
  }

  /**
   * Every device authentication: a prepared statement (ix_authorities_subject_key, then uq_certificates_authority_serial
   * per CA). On PostgreSQL concurrent lookups share one: each is still read after its request arrived, so a change
   * committed before that is seen, and the round trips and per-statement work are shared by the batch.
   */
  async findByNameWithRecord(comparableSubject: string, serialNumber: string): Promise<IssuerCandidate[]> {
    const lookup = (this.candidateQuery ??= this.prepareCandidateQuery());
    if (lookup.batches) return lookup.batches.submit({ subjectKey: comparableSubject, serialNumber });
    return activeFirst((await lookup.single!.rows([comparableSubject, serialNumber])).map((row) => candidate(lookup.authority.read(row)!, lookup.certificate.read(row))));
  }

  async findOfTenant(tenantId: string, authorityId: string): Promise<Authority | null> {
    const row = await this.dataSource.getRepository(AuthorityRow).findOneBy({ tenantId, id: authorityId, kind: In([...DEVICE_ISSUING_KINDS]) });
    return row ? toAuthority(row) : null;
  }

  async listOfTenant(tenantId: string): Promise<Authority[]> {
    const rows = await this.dataSource.getRepository(AuthorityRow).find({ where: { tenantId, kind: In([...DEVICE_ISSUING_KINDS]), status: Not('failed') }, order: { createdAt: 'ASC', id: 'ASC' } });
    return rows.map(toAuthority);
  }

  async insert(authority: Authority): Promise<void> {
    await claimingAuthorityName(() => this.transactions.run((manager) => manager.insert(AuthorityRow, toAuthorityRow(authority))));
  }

  async findDelegatedBySerial(issuerAuthorityId: string, serialNumber: string): Promise<Authority | null> {
    const row = await this.dataSource.getRepository(AuthorityRow).findOneBy({ issuerAuthorityId, serialNumber, kind: 'intermediate', status: In(['active', 'revoked']) });
    return row ? toAuthority(row) : null;
  }

  private prepareCandidateQuery(): CandidateQuery {
    const authority = new EntityColumns(this.dataSource, AuthorityRow, 'a');
    const certificate = new EntityColumns(this.dataSource, CertificateRow, 'c');
    const kinds = DEVICE_ISSUING_KINDS.map((kind) => `'${kind}'`).join(', ');
    // pending and failed rows are bookkeeping of an issuance, not certificates anyone holds (as CertificateRepository's finds).
    const recorded = `c.authority_id = a.id AND c.state NOT IN ('pending', 'failed')`;
    // Retiring roots' certificates are in force; retired and revoked CAs are found so that the refusal can say why.
    const trusted = `a.kind IN (${kinds}) AND a.status IN ('active', 'published', 'retiring', 'retired', 'revoked') AND a.certificate_pem IS NOT NULL`;
    if (this.dataSource.options.type !== 'postgres') {
      const single = new PreparedQuery(
        this.dataSource,
        `SELECT ${authority.select}, ${certificate.select} FROM authorities a LEFT JOIN certificates c ON ${recorded} AND c.serial_number = $2 ` +
          `WHERE a.subject_key = $1 AND ${trusted} ORDER BY a.created_at DESC, a.id DESC`,
      );
      return { authority, certificate, batches: null, single };
    }
    const batch = new PreparedQuery(
      this.dataSource,
      // Each row as one JSON value: three result fields rather than fifty.
      'SELECT k.i AS "k_i", to_json(a) AS "a", to_json(c) AS "c" ' +
        'FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(subject_key, serial_number, i) JOIN authorities a ON a.subject_key = k.subject_key ' +
        `LEFT JOIN certificates c ON ${recorded} AND c.serial_number = k.serial_number WHERE ${trusted} ORDER BY k.i, a.created_at DESC, a.id DESC`,
    );
    const batches = new Coalescer<CandidateKey, IssuerCandidate[]>({
      maxBatch: MAXIMUM_LOOKUP_BATCH,
      maxInFlight: LOOKUP_BATCHES_IN_FLIGHT,
      run: async (keys) => {
        const rows = await batch.rows([keys.map((key) => key.subjectKey), keys.map((key) => key.serialNumber)]);
        const found: IssuerCandidate[][] = keys.map(() => []);
        // WITH ORDINALITY counts from 1; node-postgres gives the bigint as text.
        for (const row of rows) found[Number(row['k_i']) - 1]!.push(candidate(authority.readJson(row['a'])!, certificate.readJson(row['c'])));
        return found.map(activeFirst);
      },
    });
    return { authority, certificate, batches, single: null };
  }
}

function candidate(authority: AuthorityRow, certificate: CertificateRow | null): IssuerCandidate {
  return { authority: toAuthority(authority), certificate: certificate ? toClientCertificate(certificate) : null };
}

/** findBySubject's order: the CAs in force first (a CA removed and uploaded again is found as the one in force), newest first within each. */
function activeFirst(candidates: IssuerCandidate[]): IssuerCandidate[] {
  return [...candidates.filter((c) => isInForce(c.authority)), ...candidates.filter((c) => !isInForce(c.authority))];
}
