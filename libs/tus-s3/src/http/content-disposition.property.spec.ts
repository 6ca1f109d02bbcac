import fc from 'fast-check';
import { anyChar } from '../../../../test/support/properties';
import { contentDispositionOf } from './content-disposition';

/**
 * Properties of the download's Content-Disposition, for arbitrary names: a header value Node accepts and no client
 * misreads (printable ASCII only, no CR/LF, the quoted fallback closed, the exact name in RFC 5987 form).
 */

/** RFC 8187 attr-char, plus %XX escapes: what may stand in filename*=UTF-8''... */
const EXT_VALUE = /^(?:[A-Za-z0-9!#$&+\-.^_`|~]|%[0-9A-F]{2})*$/;
const SHAPE = /^(inline|attachment); filename="([^"\\]*)"; filename\*=UTF-8''(.*)$/;

const name = fc.oneof(
  fc.string({ unit: anyChar, maxLength: 300 }),
  fc.string({ unit: 'grapheme', maxLength: 60 }),
  fc
    .array(
      fc.oneof(
        fc.string({ unit: 'grapheme', maxLength: 6 }),
        fc.constantFrom(
          '/',
          '\\',
          '..',
          '"',
          "'",
          '%',
          ';',
          '\r',
          '\n',
          '\r\n',
          '\u0000',
          '\u007f',
          '\u0085',
          '\u2028',
          '\u2029',
          '😀',
          'é',
          '\ufeff',
          'filename*=',
          '=?utf-8?',
          ' ',
        ),
      ),
      { maxLength: 20 },
    )
    .map((p) => p.join('')),
);

/** What the function promises to name the file: the last segment after "/" or "\\", cut at 255 code points. */
function lastSegment(value: string): string {
  const parts = value.split(/[\\/]/);
  return Array.from(parts[parts.length - 1])
    .slice(0, 255)
    .join('');
}

describe('contentDispositionOf (properties)', () => {
  it('is printable ASCII with no CR/LF, a closed quoted fallback, and an RFC 5987 value, for any Unicode name', () => {
    fc.assert(
      fc.property(name, fc.boolean(), fc.constantFrom('filename', 'name'), (value, inline, key) => {
        const header = contentDispositionOf({ [key]: value }, inline);
        expect(header).toMatch(/^[\x20-\x7e]*$/);
        if (value === '') return expect(header).toBe(inline ? 'inline' : 'attachment');
        const match = SHAPE.exec(header);
        expect(match).not.toBeNull();
        const [, kind, fallback, encoded] = match!;
        expect(kind).toBe(inline ? 'inline' : 'attachment');
        expect(fallback.length).toBeGreaterThan(0);
        expect(fallback).not.toMatch(/[";%\\]/);
        expect(encoded).toMatch(EXT_VALUE);
      }),
      { numRuns: 600 },
    );
  });

  it('keeps the exact last path segment in filename*, cut at 255 code points, for names without line breaks', () => {
    fc.assert(
      fc.property(name, (value) => {
        fc.pre(value !== '' && !/[\r\n\u2028\u2029]/.test(value));
        const encoded = SHAPE.exec(contentDispositionOf({ filename: value }, false))![3];
        expect(decodeURIComponent(encoded)).toBe(lastSegment(value));
      }),
      { numRuns: 600 },
    );
  });

  it('never suggests a name with a path separator, even when the name holds a line break', () => {
    fc.assert(
      fc.property(name, fc.constantFrom('\n', '\r', '\u2028', '\u2029'), name, (dir, br, file) => {
        const header = contentDispositionOf({ filename: `${dir}${br}/../${file}` }, false);
        const [, , fallback, encoded] = SHAPE.exec(header)!;
        expect(fallback).not.toMatch(/[\\/]/);
        expect(decodeURIComponent(encoded)).not.toMatch(/[\\/]/);
      }),
    );
  });

  it('never throws for a name with a lone surrogate', () => {
    const lone = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
    fc.assert(
      fc.property(fc.string({ maxLength: 10 }), lone, fc.string({ maxLength: 10 }), (a, s, b) => {
        expect(() => contentDispositionOf({ filename: `${a}${s}${b}` }, false)).not.toThrow();
      }),
    );
  });
});
