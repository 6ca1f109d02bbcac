import fc from 'fast-check';
import { anyChar } from '../../../../test/support/properties';
import { parseRange, RangeRequest } from './range';

/**
 * Properties of Range for downloads: a partial answer always lies inside the object, and single `bytes=` ranges agree
 * with a reference model computed with BigInt (so huge numbers cannot round their way into a wrong answer).
 */

/** The reference for `bytes=<first>-<last>` (either side may be empty, not both), as range.ts documents it. */
function rangeModel(first: string, last: string, size: number): RangeRequest {
  const n = BigInt(size);
  if (first === '') {
    const suffix = BigInt(last);
    if (suffix === 0n || n === 0n) return { kind: 'unsatisfiable' };
    const start = n - suffix > 0n ? n - suffix : 0n;
    return { kind: 'partial', start: Number(start), end: size - 1 };
  }
  const start = BigInt(first);
  if (start >= n) return { kind: 'unsatisfiable' };
  if (last === '') return { kind: 'partial', start: Number(start), end: size - 1 };
  const end = BigInt(last);
  if (end < start) return { kind: 'whole' }; // syntactically invalid: RFC 9110 says ignore Range
  return { kind: 'partial', start: Number(start), end: Number(end < n - 1n ? end : n - 1n) };
}

const size = fc.oneof(fc.nat(1000), fc.maxSafeNat(), fc.constantFrom(0, 1, 2, Number.MAX_SAFE_INTEGER));
/** A position: near the size, small, huge (2^64 and beyond), with leading zeros. */
function position(objectSize: number): fc.Arbitrary<string> {
  return fc.oneof(
    fc.nat(2000).map(String),
    fc.integer({ min: -3, max: 3 }).map((d) => String(Math.max(0, objectSize + d))),
    fc.bigInt({ min: 0n, max: 2n ** 80n }).map(String),
    fc.constantFrom('18446744073709551616', '18446744073709551615', '9007199254740993', '9'.repeat(400)),
    fc.tuple(fc.constantFrom('0', '00', '000'), fc.nat(2000)).map(([z, v]) => `${z}${v}`),
  );
}
const singleRange = size.chain((objectSize) =>
  fc.record({
    size: fc.constant(objectSize),
    first: fc.oneof(fc.constant(''), position(objectSize)),
    last: fc.oneof(fc.constant(''), position(objectSize)),
  }),
);

function expectWithin(range: RangeRequest, objectSize: number): void {
  if (range.kind !== 'partial') return;
  expect(Number.isSafeInteger(range.start) && Number.isSafeInteger(range.end)).toBe(true);
  expect(range.start).toBeGreaterThanOrEqual(0);
  expect(range.start).toBeLessThanOrEqual(range.end);
  expect(range.end).toBeLessThan(objectSize);
}

describe('parseRange (properties)', () => {
  it('never answers a range outside [0, size), whatever the header', () => {
    const header = fc.oneof(
      fc.string({ unit: anyChar, maxLength: 40 }),
      fc.string({ unit: fc.constantFrom(...'bytes=-0123456789, '), maxLength: 30 }),
      fc
        .tuple(size, fc.string({ maxLength: 3 }), fc.string({ maxLength: 3 }))
        .map(([s, a, b]) => `bytes=${s}${a}-${b}${s}`),
      fc
        .array(fc.tuple(fc.nat(200), fc.nat(200)), { minLength: 1, maxLength: 60 })
        .map((rs) => `bytes=${rs.map(([a, b]) => `${a}-${b}`).join(',')}`),
    );
    fc.assert(
      fc.property(header, size, (raw, objectSize) => {
        expectWithin(parseRange(raw, objectSize), objectSize);
      }),
      { numRuns: 800 },
    );
  });

  it('agrees with the reference model on bytes=a-b, bytes=a- and bytes=-n (also with OWS around the value)', () => {
    fc.assert(
      fc.property(singleRange, fc.constantFrom('', ' ', '\t'), ({ size: objectSize, first, last }, pad) => {
        fc.pre(first !== '' || last !== '');
        // The one case where range.ts deviates from RFC 9110 is pinned down by the failing test below.
        fc.pre(!(first !== '' && last !== '' && BigInt(last) < BigInt(first) && BigInt(first) >= BigInt(objectSize)));
        const range = parseRange(`${pad}bytes=${first}-${last}${pad}`, objectSize);
        expect(range).toEqual(rangeModel(first, last, objectSize));
        expectWithin(range, objectSize);
      }),
      { numRuns: 800 },
    );
  });

  it('serves the whole object for no header, empty positions, multiple ranges, and other units', () => {
    const ignored = fc.oneof(
      fc.constantFrom(
        undefined,
        '',
        'bytes=',
        'bytes=-',
        'bytes',
        'bits=0-1',
        'Bytes=0-1',
        'bytes 0-1',
        'bytes=0-1,',
        'bytes=a-b',
      ),
      fc
        .array(fc.tuple(fc.nat(100), fc.nat(100)), { minLength: 2, maxLength: 60 })
        .map((rs) => `bytes=${rs.map(([a, b]) => `${a}-${b}`).join(',')}`),
      fc.tuple(fc.nat(100), fc.nat(100)).map(([a, b]) => `bytes=-${a}-${b}`),
    );
    fc.assert(
      fc.property(ignored, size, (raw, objectSize) => {
        expect(parseRange(raw, objectSize)).toEqual({ kind: 'whole' });
      }),
    );
  });

  it('ignores an invalid range (last < first) even when first is past the end', () => {
    fc.assert(
      fc.property(fc.nat(1000), fc.nat(1000), fc.nat(1000), (objectSize, beyond, shorter) => {
        const first = objectSize + beyond + 1;
        const last = Math.max(0, first - 1 - shorter);
        expect(parseRange(`bytes=${first}-${last}`, objectSize)).toEqual({ kind: 'whole' });
      }),
    );
  });
});
