/**
 * Starts ccm in-process on 127.0.0.1 (ephemeral port) against a chosen
 * backend: database (PostgreSQL or SQLite) × custody (local or vault through
 * the Transit-compatible test server). Everything started is stopped by close().
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { createApplication } from '../../src/app.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import { parseConfiguration, type Configuration } from '../../src/config/configuration.js';
import type { Clock } from '../../src/shared/clock.js';
import { createPostgresDatabase, createSqliteDatabase, type TestDatabase } from './databases.js';
import { TransitServer } from './transit-server.js';

export type DatabaseKind = 'postgres' | 'sqlite';
export type CustodyKind = 'local' | 'vault';

export interface Backend {
  readonly database: DatabaseKind;
  readonly custody: CustodyKind;
}

/** The combinations every end-to-end suite runs against. */
export const BACKENDS: readonly Backend[] = [
  { database: 'sqlite', custody: 'local' },
  { database: 'postgres', custody: 'local' },
  { database: 'postgres', custody: 'vault' },
  { database: 'sqlite', custody: 'vault' },
];

export function backendName(backend: Backend): string {
  return `${backend.database} + ${backend.custody} custody`;
}

/** Database and custody shared by one or more ccm instances (replicas). */
export class TestInstallation {
  private constructor(
    readonly backend: Backend,
    readonly database: TestDatabase,
    readonly env: Record<string, string>,
    readonly vault: TransitServer | null,
    private readonly directory: string,
    /** The bootstrap administrator key (CCM_ADMIN_API_KEY) of every replica. */
    readonly adminKey: string,
  ) {}

  static async create(backend: Backend, extraEnv: Record<string, string> = {}): Promise<TestInstallation> {
    const database = backend.database === 'postgres' ? await createPostgresDatabase() : await createSqliteDatabase();
    const directory = await mkdtemp(join(tmpdir(), 'ccm-test-'));
    let vault: TransitServer | null = null;
    let custodyEnv: Record<string, string>;
    if (backend.custody === 'vault') {
      vault = new TransitServer();
      const address = await vault.start();
      const token = vault.createToken();
      custodyEnv = { CCM_CUSTODY: 'vault', CCM_VAULT_ADDR: address, CCM_VAULT_AUTH: 'token', CCM_VAULT_TOKEN: token };
    } else {
      custodyEnv = { CCM_CUSTODY: 'local', CCM_LOCAL_KEY_DIR: join(directory, 'keys') };
    }
    const adminKey = `test-admin-${randomBytes(24).toString('base64url')}`;
    const env = { CCM_HOST: '127.0.0.1', CCM_PORT: '0', CCM_LOG_LEVEL: 'error', CCM_ADMIN_API_KEY: adminKey, ...database.env, ...custodyEnv, ...extraEnv };
    return new TestInstallation(backend, database, env, vault, directory, env.CCM_ADMIN_API_KEY);
  }

  async start(options: { clock?: Clock; env?: Record<string, string> } = {}): Promise<CcmUnderTest> {
    const configuration = parseConfiguration({ ...this.env, ...options.env });
    const app = await createApplication(configuration, { logger: false, ...(options.clock ? { clock: options.clock } : {}) });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.getHttpServer().address();
    if (!address || typeof address === 'string') throw new Error('ccm did not bind a TCP port');
    return new CcmUnderTest(app, configuration, `${configuration.http.tls ? 'https' : 'http'}://127.0.0.1:${address.port}`, configuration.access.adminApiKey ?? this.adminKey);
  }

  get workDirectory(): string {
    return this.directory;
  }

  async destroy(): Promise<void> {
    await this.vault?.close();
    await this.database.drop();
    await rm(this.directory, { recursive: true, force: true });
  }
}

export class CcmUnderTest {
  constructor(
    readonly app: NestFastifyApplication,
    readonly configuration: Configuration,
    readonly url: string,
    readonly adminKey: string,
  ) {}

  /** A supertest agent that presents `key` (by default the bootstrap administrator key) on every request. */
  api(key: string = this.adminKey): InstanceType<typeof request.agent> {
    return request.agent(this.url).set('authorization', `Bearer ${key}`);
  }

  /** Headers for fetch() with `key`. */
  authorization(key: string = this.adminKey): Record<string, string> {
    return { authorization: `Bearer ${key}` };
  }

  /** Creates an API key through the API as the administrator; the key string. */
  async createApiKey(role: 'admin' | 'tenant' | 'broker', tenantId?: string, name = `${role}-key`): Promise<string> {
    const response = await this.api().post('/v1/api-credentials').send({ name, role, ...(tenantId ? { tenantId } : {}) });
    if (response.status !== 201) throw new Error(`creating a ${role} key answered ${response.status}: ${response.text}`);
    return (response.body as { key: string }).key;
  }

  /** Resolves once every audit entry this instance has recorded is in the table: they are written after the answers, in batches. */
  auditWritten(): Promise<void> {
    return this.app.get(AuditLog).flushed();
  }

  async close(): Promise<void> {
    await this.app.close();
  }
}
