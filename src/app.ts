/**
 * Builds the Nest application on Fastify with the edge concerns applied in
 * one place: body limit, validation, problem+json errors, OpenAPI at /docs.
 * main.ts, the tests and the OpenAPI export all start ccm through here.
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import type { LogLevel as NestLogLevel } from '@nestjs/common';
import { AppModule } from './app.module.js';
import type { Configuration } from './config/configuration.js';
import { ProblemFilter } from './http/problem.filter.js';
import { requestValidationPipe } from './http/request-validation.js';
import type { Clock } from './shared/clock.js';

const LEVELS: NestLogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

export interface ApplicationOptions {
  readonly clock?: Clock;
  /** false silences Nest's logger (tests). */
  readonly logger?: boolean;
  /** Build the module graph without instantiating providers (no database, no custody): for the OpenAPI export. */
  readonly preview?: boolean;
}

export async function createApplication(configuration: Configuration, options: ApplicationOptions = {}): Promise<NestFastifyApplication> {
  const tls = configuration.http.tls;
  const adapter = new FastifyAdapter({
    bodyLimit: configuration.http.bodyLimitBytes,
    trustProxy: false,
    // A client certificate is asked for, never required: only EST re-enrollment uses it, and ccm checks it itself against its CAs.
    ...(tls ? { https: { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile), requestCert: true, rejectUnauthorized: false } } : {}),
  });
  // The API speaks JSON; anything else is a 415 problem rather than a string body that fails validation later.
  adapter.getInstance().removeContentTypeParser('text/plain');
  // OCSP requests are DER (RFC 6960 appendix A.1); the responder answers malformed ones in OCSP's own terms.
  // EST (RFC 7030 §4.2.1): a base64 PKCS#10 body.
  adapter.getInstance().addContentTypeParser('application/pkcs10', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_request, body, done) => done(null, body));
  adapter.getInstance().addContentTypeParser('application/ocsp-request', { parseAs: 'buffer', bodyLimit: 64 * 1024 }, (_request, body, done) => done(null, body));
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(configuration, options.clock), adapter, {
    logger: options.logger === false ? false : LEVELS.slice(0, LEVELS.indexOf(configuration.logLevel) + 1),
    abortOnError: false,
    preview: options.preview ?? false,
  });
  app.useGlobalFilters(new ProblemFilter());
  app.useGlobalPipes(requestValidationPipe());
  app.enableShutdownHooks();
  SwaggerModule.setup('docs', app, () => openApiDocument(app), { jsonDocumentUrl: 'docs/openapi.json' });
  return app;
}

export function openApiDocument(app: NestFastifyApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('ccm')
    .setDescription('Certificate authority for IoT platforms: tenant CAs, device client certificates, life cycle and revocation events. Errors are RFC 9457 problem+json with a stable `type` (urn:ccm:problem:*).')
    .setVersion('1')
    .build();
  return SwaggerModule.createDocument(app, config);
}
