/**
 * Request validation at the edge: unknown members are refused rather than
 * ignored (a typo in "ttlSeconds" must not silently give the default), and
 * every failure is one `invalid-request` problem listing the fields.
 */
import { Injectable, ValidationPipe, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import type { ValidationError } from 'class-validator';
import { InvalidRequest, NotFound } from '../shared/errors.js';
import { isId } from '../shared/identifiers.js';

function flatten(errors: ValidationError[], prefix = ''): string[] {
  return errors.flatMap((e) => [
    ...Object.values(e.constraints ?? {}).map((message) => (message.startsWith(e.property) ? `${prefix}${message}` : `${prefix}${e.property}: ${message}`)),
    ...flatten(e.children ?? [], `${prefix}${e.property}.`),
  ]);
}

export function requestValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    exceptionFactory: (errors) => {
      const messages = flatten(errors);
      return new InvalidRequest(messages.join('; '), { errors: messages });
    },
  });
}

/** A path id that is not an id names nothing: 404, the same answer as an unknown one. */
@Injectable()
export class ParseIdPipe implements PipeTransform<string, string> {
  constructor(private readonly what: string) {}
  transform(value: string, _metadata: ArgumentMetadata): string {
    if (!isId(value)) throw new NotFound(this.what);
    return value;
  }
}

