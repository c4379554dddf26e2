/**
 * GET /health/live and GET /health/ready for Kubernetes probes and load
 * balancers: no API key (probes carry none), no rate limit, no audit entry
 * (neither has @RateLimit or @Audited), never cached. Answers are terminus'
 * JSON body (status, info, error, details): 200 when ready, 503 when not.
 * The checks themselves are the health module's (src/health/).
 */
import { Controller, Get, Res, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService, type HealthCheckResult } from '@nestjs/terminus';
import { ApiOkResponse, ApiOperation, ApiTags, type ApiResponseOptions } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ReadinessChecks } from '../health/readiness-checks.js';
import { PublicRoute } from './access.guard.js';

type SchemaObject = NonNullable<Extract<ApiResponseOptions, { schema?: unknown }>['schema']>;

const INDICATORS_SCHEMA: SchemaObject = { type: 'object', additionalProperties: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['up'] } }, additionalProperties: true } };
const LIVENESS_SCHEMA: SchemaObject = {
  type: 'object',
  required: ['status', 'details'],
  properties: { status: { type: 'string', enum: ['ok'] }, info: INDICATORS_SCHEMA, error: { type: 'object' }, details: INDICATORS_SCHEMA },
  example: { status: 'ok', info: { eventLoop: { status: 'up', delayMs: 0.4 } }, error: {}, details: { eventLoop: { status: 'up', delayMs: 0.4 } } },
};

@ApiTags('health')
@Controller('health')
@PublicRoute()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly readiness: ReadinessChecks,
  ) {}

  /**
   * Answering at all shows that the process runs and its event loop turns. No
   * dependency is checked here: a database outage must take replicas out of
   * the Service (readiness), not make Kubernetes restart every one of them.
   * Not through HealthCheckService either, which answers 503 from the first
   * shutdown signal on: a draining replica is not dead.
   */
  @Get('live')
  // Terminus' own documentation would promise a 503 that liveness never gives.
  @HealthCheck({ noCache: true, swaggerDocumentation: false })
  @ApiOperation({ summary: 'Liveness: the process answers and its event loop turns. Checks no dependency; never 503.' })
  @ApiOkResponse({ description: 'The process is alive.', schema: LIVENESS_SCHEMA })
  async live(): Promise<HealthCheckResult> {
    const started = performance.now();
    await new Promise<void>((resolve) => setImmediate(resolve));
    const eventLoop = this.indicators.check('eventLoop').up({ delayMs: Math.round((performance.now() - started) * 10) / 10 });
    return { status: 'ok', info: eventLoop, error: {}, details: eventLoop };
  }

  @Get('ready')
  @HealthCheck()
  @ApiOperation({
    summary:
      'Readiness: database, Redis (when configured), key custody (Vault reachable and unsealed) and the platform CA, each within 2 s. ' +
      '503 names what is down (the database or custody). Redis down (events wait in the outbox) and a platform CA awaiting its imported certificate show as "degraded" and stay 200: neither stops ccm serving, and the import has to reach the replica.',
  })
  async ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult> {
    let result: HealthCheckResult;
    try {
      result = await this.health.check(this.readiness.all());
    } catch (error) {
      // HealthCheckService throws its 503 body; answered here as terminus' body, not as a problem+json by ProblemFilter.
      if (!(error instanceof ServiceUnavailableException)) throw error;
      result = error.getResponse() as HealthCheckResult;
      reply.status(503);
    }
    this.readiness.noteOutcome(result);
    return result;
  }
}
