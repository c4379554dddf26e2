/**
 * The text rule of names, character class by character class, with the
 * characters at each boundary, and the same answer from the expression the
 * HTTP edge uses and the function the domain uses.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SUBJECT_TEXT, isSubjectText, subjectTextProblem } from '../../src/codec/subject-text.js';

const hex = (character: string) => `U+${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

const REFUSED: ReadonlyArray<readonly [string, readonly string[], RegExp]> = [
  ['C0 controls', ['\u0000', '\u0001', '\u0009', '\u000A', '\u000D', '\u001B', '\u001F'], /a control character/],
  ['DEL', ['\u007F'], /a control character/],
  ['C1 controls, NEL and CSI among them', ['\u0080', '\u0085', '\u009B', '\u009F'], /a control character/],
  ['format characters: soft hyphen, bidi marks, overrides and isolates, zero-width ones, BOM, tags', ['\u00AD', '\u061C', '\u200B', '\u200C', '\u200D', '\u200E', '\u202A', '\u202E', '\u2060', '\u2066', '\u2069', '\uFEFF', '\u{E0001}', '\u{E0041}'], /an invisible format character/],
  ['the line separator U+2028 and the paragraph separator U+2029', ['\u2028', '\u2029'], /a line or paragraph separator/],
  ['lone surrogates, high and low', ['\uD800', '\uDBFF', '\uDC00', '\uDFFF'], /a lone surrogate/],
  ['noncharacters', ['\uFDD0', '\uFDEF', '\uFFFE', '\uFFFF', '\u{1FFFE}', '\u{10FFFF}'], /a Unicode noncharacter/],
];

const ALLOWED: ReadonlyArray<readonly [string, string]> = [
  ['printable ASCII from space to tilde', ' !"#$%&\'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~'],
  ['U+00A0 no-break space (Zs), the first character after the C1 controls', '\u00A0'],
  ['the neighbours of the soft hyphen', '\u00AC\u00AE'],
  ['accented letters, precomposed', 'Gerät-Ωß-ǅ'],
  ['combining marks', 'e\u0301 a\u0308 n\u0303'],
  ['emoji, in and beyond the BMP, with a variation selector', '\u263A\u{1F600}\u{1F4A9}\u2764\uFE0F'],
  ['CJK, Arabic and Devanagari letters', '设备 جهاز उपकरण'],
  ['other spaces: ideographic, em', '\u3000\u2003'],
  ['U+FFFD and the characters next to the noncharacter ranges', '\uFFFD\uFDCF\uFDF0\u{1FFFD}\u{10FFFD}'],
  ['private use', '\uE000\u{F0000}'],
  ['nothing at all (length is the caller\'s rule)', ''],
];

describe('subject text', () => {
  for (const [what, characters, kind] of REFUSED) {
    it(`refuses ${what}`, () => {
      for (const character of characters) {
        for (const text of [character, `dev${character}ice`, `device${character}`]) {
          assert.equal(isSubjectText(text), false, hex(character));
          const problem = subjectTextProblem(text) ?? '';
          assert.ok(problem.startsWith(`contains ${hex(character)}, `), problem);
          assert.match(problem, kind, hex(character));
        }
      }
    });
  }

  for (const [what, text] of ALLOWED) {
    it(`allows ${what}`, () => {
      assert.equal(isSubjectText(text), true);
      assert.equal(subjectTextProblem(text), null);
    });
  }

  it('decides all of Latin-1 as the C0/C1 and soft hyphen boundaries say', () => {
    for (let codePoint = 0; codePoint <= 0xff; codePoint++) {
      const refused = codePoint <= 0x1f || (codePoint >= 0x7f && codePoint <= 0x9f) || codePoint === 0xad;
      assert.equal(isSubjectText(String.fromCharCode(codePoint)), !refused, `U+${codePoint.toString(16).padStart(4, '0')}`);
    }
  });

  it('names the first refused character, with its code point', () => {
    assert.equal(subjectTextProblem('dev\u009b31mice'), 'contains U+009B, a control character');
    assert.equal(subjectTextProblem('a\u200Bb\u0000'), 'contains U+200B, an invisible format character (bidi control, zero-width character or soft hyphen)');
    assert.equal(subjectTextProblem('ca\u0000evil'), 'contains U+0000, a control character');
    assert.equal(subjectTextProblem('x\u{E0001}'), 'contains U+E0001, an invisible format character (bidi control, zero-width character or soft hyphen)');
    // A surrogate pair is one character, a reversed one two lone surrogates.
    assert.equal(subjectTextProblem('\u{1F4A9}'), null);
    assert.equal(subjectTextProblem('\uDCA9\uD83D'), 'contains U+DCA9, a lone surrogate, which is not text');
  });

  it('refuses emoji joined by ZWJ: the joiner is a format character', () => {
    assert.equal(isSubjectText('\u{1F468}\u200D\u{1F469}\u200D\u{1F467}'), false);
    assert.equal(isSubjectText('\u{1F468}\u{1F469}\u{1F467}'), true);
  });

  it('gives the same answer from SUBJECT_TEXT, isSubjectText and subjectTextProblem, for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (text) => {
        const matches = SUBJECT_TEXT.test(text);
        assert.equal(isSubjectText(text), matches);
        assert.equal(subjectTextProblem(text) === null, matches);
      }),
      { numRuns: 1_000 },
    );
  });

  it('refuses a refused character wherever it stands among allowed text', () => {
    const allowed = fc.string({ unit: 'binary', maxLength: 30 }).filter(isSubjectText);
    const refused = fc.constantFrom(...REFUSED.flatMap(([, characters]) => characters));
    fc.assert(
      fc.property(allowed, refused, allowed, (before, character, after) => {
        assert.equal(isSubjectText(before + after), true);
        assert.equal(isSubjectText(before + character + after), false);
        assert.equal(subjectTextProblem(before + character + after), subjectTextProblem(character));
      }),
      { numRuns: 1_000 },
    );
  });
});
