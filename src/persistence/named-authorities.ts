/**
 * Every CA's name as the authorities table holds it, read with plain SQL so
 * that it works on a schema of any version: for the migration that makes
 * names unique and for `ccm authorities check-names`, which runs before it.
 */
import type { NamedAuthority } from '../authorities/authority-names.js';

export async function readNamedAuthorities(query: (sql: string) => Promise<unknown>): Promise<NamedAuthority[]> {
  const rows = (await query('SELECT id, tenant_id, kind, status, subject FROM authorities ORDER BY created_at, id')) as Array<Record<string, string | null>>;
  return rows.map((row) => ({
    id: row['id']!,
    tenantId: row['tenant_id'] ?? null,
    kind: row['kind'] as NamedAuthority['kind'],
    status: row['status'] as NamedAuthority['status'],
    subject: row['subject']!,
  }));
}
