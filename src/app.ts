/**
 * Builds the Nest application on Fastify with the edge concerns applied in
 * one place: body and header limits, the body parsers, CORS, validation,
 * problem+json errors, request ids and the JSON log, OpenAPI at /docs.
 * main.ts, the tests and the OpenAPI export all start ccm through here;
 * stopping on a signal is the process's business (main.ts, orderly-stop.ts).
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { AppModule } from './app.module.js';
import type { Configuration } from './config/configuration.js';
import { answerClientError, answerRouterRefusal } from './http/client-error.js';
import { observeHttpRequests } from './http/http-request-metrics.js';
import { ProblemFilter } from './http/problem.filter.js';
import { installRequestBodyParsers } from './http/request-bodies.js';
import { installRequestLog, logRouterRefusal, requestIdOf } from './http/request-log.js';
import { requestValidationPipe } from './http/request-validation.js';
import { HttpRequestMetrics } from './metrics/metrics.js';
import { createJsonLog, type JsonLog } from './logging/json-log.js';
import { NestJsonLogger } from './logging/nest-json-logger.js';
import type { Clock } from './shared/clock.js';

// @fastify/cors comes with @nestjs/platform-fastify, not as a dependency of its own: its option type, through Nest's.
type CorsOptions = NonNullable<Parameters<NestFastifyApplication['enableCors']>[0]>;

export interface ApplicationOptions {
  readonly clock?: Clock;
  /** false silences the log (tests). */
  readonly logger?: boolean;
  /** The JSON log to write to (main.ts shares its own); one at CCM_LOG_LEVEL on stdout when omitted. */
  readonly log?: JsonLog;
  /** Build the module graph without instantiating providers (no database, no custody): for the OpenAPI export. */
  readonly preview?: boolean;
}

export async function createApplication(configuration: Configuration, options: ApplicationOptions = {}): Promise<NestFastifyApplication> {
  const tls = configuration.http.tls;
  const log = options.log ?? createJsonLog(options.logger === false ? 'silent' : configuration.logLevel);
  const adapter = new FastifyAdapter({
    genReqId: requestIdOf,
    requestIdHeader: false,
    bodyLimit: configuration.http.bodyLimitBytes,
    trustProxy: false,
    // Requests Node's parser (a head over maxHeaderSize: 431) or the router (broken percent-encoding) refuses still get problem+json.
    clientErrorHandler: answerClientError,
    frameworkErrors: (...refusal: Parameters<typeof answerRouterRefusal>) => {
      answerRouterRefusal(...refusal);
      logRouterRefusal(log, refusal[1], refusal[2]);
    },
    // Node's parser refuses a request head over maxHeaderSize before Fastify routes it (431 from the client error handler).
    // A client certificate is asked for, never required: only EST re-enrollment uses it, and ccm checks it itself against its CAs.
    ...(tls
      ? { https: { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile), requestCert: true, rejectUnauthorized: false, maxHeaderSize: configuration.http.maxHeaderBytes } }
      : { http: { maxHeaderSize: configuration.http.maxHeaderBytes } }),
  });
  installRequestBodyParsers(adapter.getInstance(), configuration.http.bodyLimitBytes);
  installRequestLog(adapter.getInstance(), log);
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(configuration, options.clock), adapter, {
    logger: options.logger === false ? false : new NestJsonLogger(log),
    abortOnError: false,
    // Nest would add its own JSON parser and a form parser over ours (src/http/request-bodies.ts).
    bodyParser: false,
    preview: options.preview ?? false,
  });
  if (!options.preview) observeHttpRequests(adapter.getInstance(), app.get(HttpRequestMetrics));
  if (configuration.http.corsOrigins.length > 0) app.enableCors(corsOptions(configuration.http.corsOrigins));
  app.useGlobalFilters(new ProblemFilter());
  app.useGlobalPipes(requestValidationPipe());
  SwaggerModule.setup('docs', app, () => openApiDocument(app), { jsonDocumentUrl: 'docs/openapi.json' });
  return app;
}

/**
 * CORS for browser pages of the listed origins (a console that generates a
 * key in the browser and posts the CSR). @fastify/cors answers preflights in
 * an onRequest hook, before Nest's guards: a preflight carries no
 * Authorization header and must not meet the AccessGuard. An origin not on
 * the list gets no Access-Control-* header at all (and its preflight a 404).
 * No credentials mode: the API takes bearer keys, never cookies.
 */
function corsOptions(origins: readonly string[]): CorsOptions {
  const allowed = new Set(origins);
  return {
    origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin) ? origin : false),
    methods: ['GET', 'POST', 'PUT', 'DELETE'],
    allowedHeaders: ['authorization', 'content-type', 'x-request-id'],
    // Retry-After for 429s; x-crl-number on CRLs; x-request-id to quote to the operator.
    exposedHeaders: ['retry-after', 'x-crl-number', 'x-request-id'],
    credentials: false,
    maxAge: 600,
  };
}

export function openApiDocument(app: NestFastifyApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('ccm')
    .setDescription('Certificate authority for IoT platforms: tenant CAs, device client certificates, life cycle and revocation events. Errors are RFC 9457 problem+json with a stable `type` (urn:ccm:problem:*) and a `requestId`, the X-Request-Id of every answer (the caller\'s own when it sends a plain token of up to 128 characters): quote it when reporting a problem.')
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API key: the bootstrap administrator key, or one from POST /v1/api-credentials.' })
    .build();
  return SwaggerModule.createDocument(app, config);
}
