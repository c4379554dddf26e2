/**
 * Request validation at the edge: unknown members are refused rather than
 * ignored (a typo in "ttlSeconds" must not silently give the default), and
 * so are bodies that are not JSON objects and nesting no request has; every
 * failure is one `invalid-request` problem listing the fields.
 */
import { Injectable, ValidationPipe, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import { Matches, ValidateIf, type ValidationArguments, type ValidationError } from 'class-validator';
import { SUBJECT_TEXT, subjectTextProblem } from '../codec/subject-text.js';
import { InvalidRequest, NotFound } from '../shared/errors.js';
import { isId } from '../shared/identifiers.js';

function flatten(errors: ValidationError[], prefix = ''): string[] {
  return errors.flatMap((e) => [
    ...Object.values(e.constraints ?? {}).map((message) => (message.startsWith(e.property) ? `${prefix}${message}` : `${prefix}${e.property}: ${message}`)),
    ...flatten(e.children ?? [], `${prefix}${e.property}.`),
  ]);
}

/**
 * Optional but not nullable: absent takes the default, null is refused like
 * any other wrong type. (@IsOptional skips validation for null too, and a use
 * case that reads "absent" as undefined would take null as given.)
 */
export function IsOmittable(): PropertyDecorator {
  return ValidateIf((_object: object, value: unknown) => value !== undefined);
}

/**
 * A request field that names something (a device, a CA, a credential, an
 * issuer to look up): the text rule of names (src/codec/subject-text.ts),
 * the very expression the domain checks with, so the edge and the use cases
 * cannot disagree. The message is the domain's too.
 */
export function IsSubjectText(): PropertyDecorator {
  return Matches(SUBJECT_TEXT, {
    message: ({ property, value }: ValidationArguments) => `${property} ${typeof value === 'string' ? (subjectTextProblem(value) ?? 'is not text') : 'must be a string'}`,
  });
}

/** No request of ccm nests deeper than a few levels; class-transformer recurses once per level and would overflow the stack long before this is reached by anything legitimate. */
const MAX_NESTING = 32;
/**
 * Members class-transformer drops without a word, so the whitelist never
 * sees them and the request goes through as if they were absent: those named
 * like a property of every object ("__proto__", "constructor", "toString",
 * "hasOwnProperty", ...), and "prototype". Refused here instead.
 */
function isPrototypeKey(key: string): boolean {
  return key === 'prototype' || Object.prototype.hasOwnProperty.call(Object.prototype, key);
}

/** What is wrong with the shape of a request value, found without recursion: nesting deeper than MAX_NESTING, or a prototype key anywhere. */
function shapeProblem(value: unknown): string | null {
  const pending: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (pending.length > 0) {
    const { value: current, depth } = pending.pop()!;
    // Bytes (an OCSP request) are one value, not a structure.
    if (current === null || typeof current !== 'object' || ArrayBuffer.isView(current)) continue;
    if (depth >= MAX_NESTING) return `the request nests deeper than ${MAX_NESTING} levels`;
    for (const [key, member] of Object.entries(current)) {
      if (isPrototypeKey(key)) return `the member "${key}" is not allowed`;
      pending.push({ value: member, depth: depth + 1 });
    }
  }
  return null;
}

const NOT_REQUEST_CLASSES: readonly unknown[] = [Object, String, Number, Boolean, Array];

class RequestValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const problem = shapeProblem(value);
    if (problem !== null) throw new InvalidRequest(problem);
    // A body bound to a request class is a JSON object; `null`, an array or a bare value would otherwise reach the route as "no fields given".
    const requestClass = typeof metadata.metatype === 'function' && !NOT_REQUEST_CLASSES.includes(metadata.metatype);
    if (metadata.type === 'body' && requestClass && value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value) || Buffer.isBuffer(value))) {
      throw new InvalidRequest('the request body must be a JSON object');
    }
    return super.transform(value, metadata);
  }
}

export function requestValidationPipe(): ValidationPipe {
  return new RequestValidationPipe({
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

