/**
 * PEM (RFC 7468) text for certificates, chains, CSRs and keys. Decoding is the
 * strict grammar of RFC 7468 §3: only whitespace around and between blocks, no
 * RFC 1421 headers, canonical base64, the END label equal to the BEGIN label.
 * Anything else is rejected with a message saying what was wrong, since these
 * strings are pasted by people and a silent partial parse hides their mistake.
 */
import { DomainError } from '../shared/errors.js';

export interface PemBlock {
  readonly label: string;
  readonly der: Uint8Array;
}

const BEGIN = /^-----BEGIN ([A-Z0-9](?:[A-Z0-9 -]*[A-Z0-9])?)-----$/;
const END = /^-----END ([A-Z0-9](?:[A-Z0-9 -]*[A-Z0-9])?)-----$/;
const BASE64_LINE = /^[A-Za-z0-9+/]*={0,2}$/;

/** All blocks in `text`, in order (a chain); each label must be one of `labels`. Throws `malformed-pem`. */
export function decodePemBlocks(text: string, labels: string | readonly string[]): PemBlock[] {
  const expected = typeof labels === 'string' ? [labels] : labels;
  const blocks: PemBlock[] = [];
  const lines = text.split(/\r?\n/);
  let open: { label: string; line: number; body: string[] } | null = null;
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.trim();
    const lineNumber = index + 1;
    if (open === null) {
      if (line === '') continue;
      const begin = BEGIN.exec(line);
      if (begin === null) throw malformed(`unexpected text outside a PEM block on line ${lineNumber}`);
      const label = begin[1]!;
      if (!expected.includes(label)) throw malformed(`expected ${describe(expected)}, found "${label}" on line ${lineNumber}`);
      open = { label, line: lineNumber, body: [] };
      continue;
    }
    const end = END.exec(line);
    if (end !== null) {
      if (end[1] !== open.label) throw malformed(`"${open.label}" block opened on line ${open.line} is closed as "${end[1]}" on line ${lineNumber}`);
      blocks.push({ label: open.label, der: decodeBase64Body(open.body.join(''), open.line) });
      open = null;
      continue;
    }
    if (line.startsWith('-----')) throw malformed(`"${open.label}" block opened on line ${open.line} is not closed`);
    if (!BASE64_LINE.test(line)) throw malformed(`line ${lineNumber} is not base64 (PEM headers are not accepted)`);
    open.body.push(line);
  }
  if (open !== null) throw malformed(`"${open.label}" block opened on line ${open.line} is not closed`);
  if (blocks.length === 0) throw malformed(`no PEM block found; expected ${describe(expected)}`);
  return blocks;
}

/** The DER of every block in `text`, in order (one or more). Throws `malformed-pem`. */
export function decodePem(text: string, labels: string | readonly string[]): Uint8Array[] {
  return decodePemBlocks(text, labels).map((block) => block.der);
}

/** The DER of the single block in `text`. Throws `malformed-pem` when there are several. */
export function decodeSinglePem(text: string, labels: string | readonly string[]): Uint8Array {
  const blocks = decodePemBlocks(text, labels);
  if (blocks.length !== 1) throw malformed(`expected one PEM block, found ${blocks.length}`);
  return blocks[0]!.der;
}

/** RFC 7468 §2: base64 in lines of 64 characters; ends with a newline so blocks concatenate into a chain. */
export function encodePem(der: Uint8Array, label: string): string {
  const body = Buffer.from(der).toString('base64');
  const lines: string[] = [];
  for (let offset = 0; offset < body.length; offset += 64) lines.push(body.slice(offset, offset + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** Whether `input` is PEM text rather than DER, judged by its first non-blank characters. */
export function looksLikePem(input: string | Uint8Array): boolean {
  const head = typeof input === 'string' ? input.slice(0, 64) : Buffer.from(input.subarray(0, 64)).toString('latin1');
  return head.trimStart().startsWith('-----BEGIN ');
}

function decodeBase64Body(body: string, line: number): Uint8Array {
  if (body.length === 0) throw malformed(`block on line ${line} is empty`);
  if (body.length % 4 !== 0 || !BASE64_LINE.test(body)) throw malformed(`block on line ${line} is not valid base64`);
  const der = Buffer.from(body, 'base64');
  // Node's decoder forgives non-zero padding bits; re-encoding exposes them.
  if (der.toString('base64') !== body) throw malformed(`block on line ${line} is not canonical base64`);
  return new Uint8Array(der.buffer, der.byteOffset, der.length);
}

function describe(labels: readonly string[]): string {
  return labels.map((label) => `"${label}"`).join(' or ');
}

function malformed(message: string): DomainError {
  return new DomainError('malformed-pem', `malformed PEM: ${message}`);
}
