/**
 * The request bodies ccm reads, and no others: JSON for the API, base64
 * PKCS#10 for EST, DER OCSP requests. A body of any other media type (a form,
 * multipart, plain text) is refused with 415 before a route sees it, rather
 * than parsed into something validation might let through.
 *
 * JSON is read as RFC 8259 §8.1 has it: UTF-8 only, whatever a charset
 * parameter says (§11 defines none), and one leading byte order mark ignored
 * (which §8.1 allows and Fastify's parser did before). Bytes that are not
 * UTF-8 answer 400: decoded leniently they would become U+FFFD and reach a
 * certificate subject as text the client never sent.
 */
import { isUtf8 } from 'node:buffer';
import type { FastifyInstance } from 'fastify';

/** The code the problem filter knows a JSON body that is not UTF-8 by. */
export const JSON_BODY_NOT_UTF8 = 'CCM_JSON_BODY_NOT_UTF8';

export class JsonBodyNotUtf8 extends Error {
  readonly code = JSON_BODY_NOT_UTF8;

  constructor() {
    super('the body is not UTF-8: JSON must be UTF-8 (RFC 8259 §8.1), without overlong forms, surrogates or code points past U+10FFFF');
    this.name = new.target.name;
  }
}

/**
 * Replaces all of Fastify's body parsers with these three. A body over
 * `bodyLimitBytes` (CCM_BODY_LIMIT_BYTES) gets 413 while it is read; a CSR
 * or an OCSP request fits in far less, so those stop at 64 KiB.
 */
export function installRequestBodyParsers(fastify: FastifyInstance, bodyLimitBytes: number): void {
  // Fastify's defaults include text/plain, which a JSON route would take as a string body.
  fastify.removeAllContentTypeParsers();
  // Fastify's own parser after the UTF-8 check: it keeps refusing an empty body, and __proto__ or constructor.prototype keys anywhere (400 malformed-json).
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  fastify.addContentTypeParser<Buffer>('application/json', { parseAs: 'buffer', bodyLimit: bodyLimitBytes }, (request, body, done) => {
    // isUtf8 is strict (RFC 3629): overlong forms, encoded surrogates (ED A0 80) and anything past U+10FFFF are not UTF-8.
    if (!isUtf8(body)) {
      done(new JsonBodyNotUtf8(), undefined);
      return;
    }
    // Decoding valid UTF-8 loses nothing and keeps a BOM, of which secure-json-parse drops one: a second is malformed JSON.
    parseJson(request, body.toString('utf8'), done);
  });
  const binaryBodyLimit = Math.min(64 * 1024, bodyLimitBytes);
  // EST (RFC 7030 §4.2.1): a base64 PKCS#10 body.
  fastify.addContentTypeParser('application/pkcs10', { parseAs: 'string', bodyLimit: binaryBodyLimit }, (_request, body, done) => done(null, body));
  // OCSP requests are DER (RFC 6960 appendix A.1); the responder answers malformed ones in OCSP's own terms.
  fastify.addContentTypeParser('application/ocsp-request', { parseAs: 'buffer', bodyLimit: binaryBodyLimit }, (_request, body, done) => done(null, body));
}
