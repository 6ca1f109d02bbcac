import fc from 'fast-check';
import { anyChar, outcome } from '../../../../test/support/properties';
import { parseMetadata, serializeMetadata, UploadMetadata } from './metadata';

/**
 * Properties of Upload-Metadata: what serializeMetadata writes, parseMetadata reads back; and whatever a client sends
 * is either metadata with well-formed keys or a TusError(400), never another error.
 */

const KEY_CHARS = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).filter(
  (c) => c !== ',',
);
/** Keys tus allows: printable ASCII without space and comma; also names that are special to JavaScript objects. */
const key = fc.oneof(
  { weight: 5, arbitrary: fc.string({ unit: fc.constantFrom(...KEY_CHARS), minLength: 1, maxLength: 16 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
      'filename',
      'filetype',
      'name',
    ),
  },
);
/** Values are text: any well-formed Unicode string (lone surrogates cannot survive UTF-8, by design). */
const value = fc.option(
  fc.oneof(
    fc.string({ unit: anyChar, maxLength: 40 }),
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.constantFrom(' ', ',', 'a b,c', '\r\n', '\u0000'),
  ),
  { nil: null },
);
const entries = fc.uniqueArray(fc.tuple(key, value), { selector: ([k]) => k, maxLength: 24 });

function metadataOf(pairs: Array<[string, string | null]>): UploadMetadata {
  const result = Object.create(null) as Record<string, string | null>;
  for (const [k, v] of pairs) result[k] = v;
  return result;
}

/** As a wire header cannot tell "no value" from "an empty value", '' comes back as null. */
function expectedAfterRoundTrip(pairs: Array<[string, string | null]>): Record<string, string | null> {
  return Object.fromEntries(pairs.map(([k, v]) => [k, v === '' ? null : v]));
}

describe('Upload-Metadata (properties)', () => {
  it('round-trips any map with valid keys through serializeMetadata and parseMetadata', () => {
    fc.assert(
      fc.property(entries, (pairs) => {
        const header = serializeMetadata(metadataOf(pairs));
        const parsed = parseMetadata(header);
        expect(Object.getPrototypeOf(parsed)).toBeNull(); // '__proto__' is a key like any other
        expect(Object.entries(parsed)).toEqual(Object.entries(expectedAfterRoundTrip(pairs)));
        expect(Object.entries(parseMetadata(serializeMetadata(parsed)))).toEqual(Object.entries(parsed)); // a fixed point
      }),
      { numRuns: 500 },
    );
  });

  it('accepts optional whitespace around pairs and reads the same metadata', () => {
    const blank = fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 3 });
    fc.assert(
      fc.property(
        entries.filter((p) => p.length > 0),
        fc.array(fc.tuple(blank, blank), { minLength: 24, maxLength: 24 }),
        (pairs, pads) => {
          const header = pairs
            .map(
              ([k, v], i) =>
                `${pads[i][0]}${v === null || v === '' ? k : `${k} ${Buffer.from(v, 'utf8').toString('base64')}`}${pads[i][1]}`,
            )
            .join(',');
          fc.pre(header.trim() !== '');
          expect(Object.entries(parseMetadata(header))).toEqual(Object.entries(expectedAfterRoundTrip(pairs)));
        },
      ),
    );
  });

  it('on arbitrary strings returns well-formed metadata or throws TusError(400), nothing else', () => {
    const piece = fc.oneof(
      key,
      fc.string({ unit: anyChar, maxLength: 12 }),
      fc.constantFrom(
        ' ',
        ',',
        '  ',
        ',,',
        '=',
        '==',
        'YQ==',
        'YQ=',
        'YWJj',
        '****',
        '\t',
        '\u00a0',
        '\u0000',
        '\ud800',
        'é',
      ),
      fc.string({ unit: anyChar, maxLength: 12 }).map((s) => Buffer.from(s, 'utf8').toString('base64')),
    );
    const header = fc.oneof(
      fc.string({ unit: anyChar, maxLength: 80 }),
      fc.array(piece, { maxLength: 12 }).map((parts) => parts.join('')),
      fc
        .array(
          fc.array(piece, { maxLength: 3 }).map((p) => p.join(' ')),
          { maxLength: 8 },
        )
        .map((pairs) => pairs.join(',')),
    );
    fc.assert(
      fc.property(header, (raw) => {
        const result = outcome(() => parseMetadata(raw));
        if ('status' in result) {
          expect(result.status).toBe(400);
          return;
        }
        for (const [k, v] of Object.entries(result.value)) {
          expect(k).toMatch(/^[\x21-\x2b\x2d-\x7e]+$/);
          expect(v === null || typeof v === 'string').toBe(true);
        }
        expect(Object.keys(result.value).length).toBeLessThanOrEqual(raw.split(',').length);
      }),
      { numRuns: 800 },
    );
  });

  it('refuses a header longer than 64 KiB with 400, and a duplicate key with 400', () => {
    fc.assert(
      fc.property(key, fc.integer({ min: 64 * 1024 + 1, max: 80 * 1024 }), (k, length) => {
        const header = `${k} ${'QUJD'.repeat(Math.ceil(length / 4))}`;
        expect(outcome(() => parseMetadata(header))).toEqual({ status: 400 });
      }),
      { numRuns: 20 },
    );
    fc.assert(
      fc.property(key, value, value, (k, a, b) => {
        const header = serializeMetadata(metadataOf([[k, a]])) + ',' + serializeMetadata(metadataOf([[k, b]]));
        expect(outcome(() => parseMetadata(header))).toEqual({ status: 400 });
      }),
    );
  });
});
