import fc from 'fast-check';
import { anyChar, Outcome, outcome } from '../../../../test/support/properties';
import { parseDeclaredLength, parseNonNegativeInteger, singleHeader } from './headers';

/**
 * Properties of the integer headers (Upload-Length, Upload-Offset, Content-Length as the handlers read it): exactly
 * the canonical decimal strings of safe integers are accepted, and everything else is a TusError(400), never another
 * error. Any other exception is rethrown, so fast-check reports it with the input that caused it.
 */

/** The reference: what HTTP would let arrive (SP/HTAB around the value are optional whitespace), digits only. */
function integerModel(raw: string): Outcome<number> {
  const trimmed = raw.replace(/^[ \t]+|[ \t]+$/g, '');
  if (!/^(0|[1-9][0-9]*)$/.test(trimmed)) return { status: 400 };
  const value = BigInt(trimmed);
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? { value: Number(value) } : { status: 400 };
}

const ows = fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 3 });
const digitish = fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 1, maxLength: 25 });
/** Strings close to integers: signs, dots, exponents, hex, separators, spaces inside, leading zeros. */
const nearInteger = fc
  .array(
    fc.oneof(
      digitish,
      fc.constantFrom(
        '0',
        '00',
        '-',
        '+',
        '.',
        'e',
        'E',
        'x',
        '0x',
        ',',
        ' ',
        '\t',
        '_',
        'Infinity',
        'NaN',
        '١',
        '٣',
        '０',
        '\u00a0',
        '\ufeff',
      ),
    ),
    { minLength: 1, maxLength: 5 },
  )
  .map((parts) => parts.join(''));
const hostileInteger = fc.oneof(
  fc.string({ unit: anyChar, maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  nearInteger,
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
  fc
    .tuple(fc.string({ unit: fc.constant('0'), minLength: 1, maxLength: 5 }), fc.maxSafeNat())
    .map(([zeros, n]) => `${zeros}${n}`),
);

describe('parseNonNegativeInteger (properties)', () => {
  it('returns the value of every safe non-negative integer written canonically, with or without OWS around it', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), ows, ows, (n, before, after) => {
        expect(parseNonNegativeInteger('Upload-Offset', String(n))).toBe(n);
        expect(parseNonNegativeInteger('Upload-Offset', `${before}${n}${after}`)).toBe(n);
      }),
    );
  });

  it('refuses every integer beyond Number.MAX_SAFE_INTEGER with 400', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: BigInt(Number.MAX_SAFE_INTEGER) + 1n, max: 10n ** 400n }), (n) => {
        expect(outcome(() => parseNonNegativeInteger('Upload-Length', String(n)))).toEqual({ status: 400 });
      }),
    );
  });

  it('refuses leading zeros, signs and anything inside the digits with 400', () => {
    const digits = fc.maxSafeNat().map(String);
    const spoiled = fc.oneof(
      fc.tuple(fc.constantFrom('0', '00', '-', '+', '-0', '+0'), digits).map(([p, d]) => `${p}${d}`),
      fc
        .tuple(
          digits.filter((d) => d.length > 1),
          fc.constantFrom(' ', '\t', '.', ',', '_', 'e', '-', '\u00a0', '\u0000'),
          fc.nat(),
        )
        .map(([d, c, at]) => {
          const i = 1 + (at % (d.length - 1));
          return `${d.slice(0, i)}${c}${d.slice(i)}`;
        }),
      digits.map((d) => `${d}.0`),
      digits.map((d) => `${d}e0`),
    );
    fc.assert(
      fc.property(spoiled, (raw) => {
        expect(outcome(() => parseNonNegativeInteger('Upload-Offset', raw))).toEqual({ status: 400 });
      }),
    );
  });

  it('agrees with the reference on arbitrary and near-integer strings (never an error other than TusError 400)', () => {
    fc.assert(
      fc.property(hostileInteger, (raw) => {
        // Only HTTP whitespace is compared here; other Unicode spaces around the digits are the separate case below.
        fc.pre(!/^\s|\s$/.test(raw.replace(/^[ \t]+|[ \t]+$/g, '')));
        expect(outcome(() => parseNonNegativeInteger('Upload-Offset', raw))).toEqual(integerModel(raw));
      }),
      { numRuns: 600 },
    );
  });

  it('refuses non-HTTP whitespace around the digits (NBSP, U+FEFF, U+2028, VT, FF, CR, LF) with 400', () => {
    const space = fc.constantFrom('\u00a0', '\ufeff', '\u2028', '\u3000', '\u000b', '\u000c', '\r', '\n');
    fc.assert(
      fc.property(space, fc.maxSafeNat(), fc.boolean(), (s, n, before) => {
        const raw = before ? `${s}${n}` : `${n}${s}`;
        expect(outcome(() => parseNonNegativeInteger('Upload-Offset', raw))).toEqual({ status: 400 });
      }),
    );
  });
});

describe('singleHeader (properties)', () => {
  it('passes one value through and refuses any repeat with 400', () => {
    const value = fc.string({ unit: anyChar, maxLength: 20 });
    fc.assert(
      fc.property(fc.option(value, { nil: undefined }), fc.array(value, { maxLength: 6 }), (single, many) => {
        expect(singleHeader('Upload-Offset', single)).toBe(single);
        const expected: Outcome<string | undefined> = many.length > 1 ? { status: 400 } : { value: many[0] };
        expect(outcome(() => singleHeader('Upload-Offset', many))).toEqual(expected);
      }),
    );
  });
});

describe('parseDeclaredLength (properties)', () => {
  const header = fc.option(fc.oneof(hostileInteger, fc.constantFrom('1', ' 1', '1 ', '0', '01', '1,1', 'true')), {
    nil: undefined,
  });

  it('is Upload-Length alone, or Upload-Defer-Length: 1 alone; anything else is a 400', () => {
    fc.assert(
      fc.property(header, header, (length, defer) => {
        fc.pre(length === undefined || !/^\s|\s$/.test(length.replace(/^[ \t]+|[ \t]+$/g, '')));
        let expected: Outcome<unknown>;
        if (length !== undefined && defer !== undefined) expected = { status: 400 };
        else if (length !== undefined) {
          const n = integerModel(length);
          expected = 'value' in n ? { value: { kind: 'known', size: n.value } } : n;
        } else if (defer !== undefined)
          expected = defer.trim() === '1' ? { value: { kind: 'deferred' } } : { status: 400 };
        else expected = { status: 400 };
        expect(outcome(() => parseDeclaredLength(length, defer))).toEqual(expected);
      }),
      { numRuns: 1000 },
    );
  });
});
