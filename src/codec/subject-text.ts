/**
 * The one rule for the text of a name ccm signs or records: every subject
 * attribute value it encodes, every CA subject it trusts, every device
 * identity and type it registers or maps, and (because one rule is simpler
 * than two) the labels people give credentials and CAs. The HTTP edge checks
 * request fields with the same expression (`SUBJECT_TEXT`), the domain
 * checks again for callers that bypass it, so the two cannot drift.
 *
 * Refused, by Unicode general category or property:
 * - Cc, C0 and C1 controls and DEL: a NUL lets a C-string consumer read a
 *   shorter name than the one signed, ESC and CSI (U+009B) drive terminals
 *   that print a log line, and PostgreSQL refuses NUL in text.
 * - Cf, format characters: bidi overrides and isolates (U+202E, U+2066)
 *   make a name display as another ("Trojan Source"), zero-width ones
 *   (U+200B, U+200D, U+FEFF, U+2060) and the soft hyphen (U+00AD) make two
 *   names that look the same differ. This also refuses emoji joined by ZWJ
 *   ("👨‍👩‍👧") and tag sequences (subdivision flags): a price paid for names
 *   that are what they look like. Single emoji and variation selectors
 *   (category Mn) pass.
 * - Zl and Zp, U+2028 and U+2029: line and paragraph breaks in everything
 *   that splits on them (JavaScript source, many log viewers), so a name in
 *   a log line could forge the next one. The other line breaks (LF, CR,
 *   VT, FF, NEL) are Cc already.
 * - Cs, a lone surrogate: not a character at all; JSON and BMPString can
 *   carry one, no UTF8String can.
 * - Noncharacters (U+FDD0..U+FDEF and the last two code points of every
 *   plane, e.g. U+FFFE, U+FFFF): permanently reserved for a program's
 *   internal use, never assigned; U+FFFE is a byte-swapped BOM to anything
 *   sniffing byte order. Nobody names a device with one.
 *
 * Allowed: everything else, including spaces other than U+0020 (NBSP, U+3000;
 * category Zs), combining marks, private-use and unassigned code points.
 * Unassigned ones stay allowed on purpose: which code points are unassigned
 * changes with each Unicode version Node ships, and a name must not flip from
 * valid to invalid on an upgrade. (Noncharacters never change.)
 */

const REFUSED_CHARACTER_CLASS = String.raw`\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Noncharacter_Code_Point}`;

/** The whole string is subject text: for @Matches at the HTTP edge and for `isSubjectText`. */
export const SUBJECT_TEXT = new RegExp(`^[^${REFUSED_CHARACTER_CLASS}]*$`, 'u');

const REFUSED_CHARACTER = new RegExp(`[${REFUSED_CHARACTER_CLASS}]`, 'u');

/** Why a refused character is refused, in the words a problem document uses; checked in this order. */
const KINDS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\p{Cc}/u, 'a control character'],
  [/\p{Cs}/u, 'a lone surrogate, which is not text'],
  [/[\p{Zl}\p{Zp}]/u, 'a line or paragraph separator'],
  [/\p{Cf}/u, 'an invisible format character (bidi control, zero-width character or soft hyphen)'],
  [/\p{Noncharacter_Code_Point}/u, 'a Unicode noncharacter'],
];

export function isSubjectText(text: string): boolean {
  return SUBJECT_TEXT.test(text);
}

/**
 * What is wrong with `text` as the value of a name, as the end of a sentence
 * ("contains U+202E, an invisible format character (...)"); null when nothing
 * is. Callers throw their own error kind with it: each path keeps the problem
 * type it has always answered with.
 */
export function subjectTextProblem(text: string): string | null {
  const match = REFUSED_CHARACTER.exec(text);
  if (match === null) return null;
  const character = match[0];
  const codePoint = `U+${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
  const kind = KINDS.find(([category]) => category.test(character))![1];
  return `contains ${codePoint}, ${kind}`;
}
