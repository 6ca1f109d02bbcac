import fc from 'fast-check';
import { choosePartSize, mayUploadShortPart, S3_LIMITS, shortLastPartOf, withShortLastPart } from './part-plan';

const KiB = 1024;
const MiB = 1024 * KiB;
const sizing = {
  minPartSize: 5 * MiB,
  preferredPartSize: 8 * MiB,
  maxPartSize: S3_LIMITS.maxPartSize,
  maxMultipartParts: 10_000,
  maxObjectSize: S3_LIMITS.maxObjectSize,
};

describe('part size planning', () => {
  it('uses the preferred size when it suffices', () => {
    expect(choosePartSize(sizing, 100 * MiB, S3_LIMITS.maxObjectSize)).toBe(8 * MiB);
  });

  it('grows parts so that 10,000 hold the whole upload', () => {
    const size = 5 * 1024 * 1024 * MiB; // 5 TiB
    const part = choosePartSize(sizing, size, S3_LIMITS.maxObjectSize);
    expect(part * 10_000).toBeGreaterThanOrEqual(size);
    expect(part).toBeLessThanOrEqual(S3_LIMITS.maxPartSize);
  });

  it('plans a deferred length for the largest accepted upload', () => {
    const part = choosePartSize(sizing, null, 200 * 1024 * MiB);
    expect(part * 10_000).toBeGreaterThanOrEqual(200 * 1024 * MiB);
  });

  it('refuses plans that would need parts above the maximum', () => {
    expect(() => choosePartSize({ ...sizing, maxMultipartParts: 2 }, 100 * 1024 * MiB, Infinity)).toThrow(RangeError);
  });
});

describe('a short last part', () => {
  /** The parts an upload is cut into at `partSize`: full ones, then the rest. */
  const partsOf = (uploadSize: number, partSize: number) => {
    const sizes = Array.from({ length: Math.floor(uploadSize / partSize) }, () => partSize);
    if (uploadSize % partSize > 0) sizes.push(uploadSize % partSize);
    return sizes;
  };

  it('makes the parts a little smaller, so that one part more holds 3 MiB (three fifths of the minimum)', () => {
    expect(shortLastPartOf(5 * MiB)).toBe(3 * MiB);
    const partSize = withShortLastPart(8 * MiB, 64 * MiB, sizing);
    expect(partSize).toBe(7.625 * MiB);
    expect(partsOf(64 * MiB, partSize)).toEqual([...Array(8).fill(7.625 * MiB), 3 * MiB]);
  });

  it('leaves the part size alone when the last part is short already, or the upload is one part', () => {
    expect(withShortLastPart(8 * MiB, 66 * MiB, sizing)).toBe(8 * MiB); // last part 2 MiB
    expect(withShortLastPart(8 * MiB, 8 * MiB, sizing)).toBe(8 * MiB);
    expect(withShortLastPart(8 * MiB, 5 * MiB, sizing)).toBe(8 * MiB);
  });

  it('leaves it alone when smaller parts would go below the minimum, or past the part count', () => {
    // 12 MiB: 2 parts of 4.5 MiB and 3 MiB would need parts below 5 MiB.
    expect(withShortLastPart(8 * MiB, 12 * MiB, sizing)).toBe(8 * MiB);
    expect(withShortLastPart(8 * MiB, 64 * MiB, { ...sizing, maxMultipartParts: 8 })).toBe(8 * MiB);
    expect(withShortLastPart(8 * MiB, 64 * MiB, { ...sizing, maxMultipartParts: 9 })).toBe(7.625 * MiB);
  });

  it('never makes the other parts smaller than the short one', () => {
    // 11.5 MiB in 4 MiB parts, a last part of 3 MiB asked for: 3 parts of 2.83 MiB would each be smaller than it.
    const small = { ...sizing, minPartSize: MiB };
    expect(withShortLastPart(4 * MiB, 11.5 * MiB, small, 3 * MiB)).toBe(4 * MiB);
    expect(withShortLastPart(8 * MiB, 22 * MiB, small, 3 * MiB)).toBe(Math.floor((19 * MiB) / 3));
  });

  it('scales the short last part with the minimum part size', () => {
    const partSize = withShortLastPart(8 * KiB, 16 * KiB, { ...sizing, minPartSize: 5 * KiB });
    expect(partSize).toBe(Math.floor((16 * KiB - 3 * KiB) / 2));
    expect(16 * KiB - 2 * partSize).toBe(3 * KiB);
  });

  it('keeps every plan valid: parts at least the minimum, the last about 3 MiB, one part more at most', () => {
    const plans = fc.record({
      preferred: fc.integer({ min: 5 * MiB, max: 64 * MiB }),
      uploadSize: fc.integer({ min: 1, max: 400 * MiB }),
      maxMultipartParts: fc.integer({ min: 2, max: 100 }),
    });
    fc.assert(
      fc.property(plans, ({ preferred, uploadSize, maxMultipartParts }) => {
        fc.pre(Math.ceil(uploadSize / preferred) <= maxMultipartParts);
        const partSize = withShortLastPart(preferred, uploadSize, { ...sizing, maxMultipartParts });
        const before = partsOf(uploadSize, preferred);
        const after = partsOf(uploadSize, partSize);
        if (partSize === preferred) {
          const short = before.length < 2 || before.at(-1)! <= shortLastPartOf(sizing.minPartSize);
          const impossible =
            before.length + 1 > maxMultipartParts ||
            Math.floor((uploadSize - shortLastPartOf(sizing.minPartSize)) / before.length) < sizing.minPartSize;
          expect(short || impossible).toBe(true);
          return;
        }
        expect(partSize).toBeLessThan(preferred);
        expect(after).toHaveLength(before.length + 1);
        expect(after.length).toBeLessThanOrEqual(maxMultipartParts);
        expect(after.slice(0, -1).every((size) => size === partSize && size >= sizing.minPartSize)).toBe(true);
        expect(after.at(-1)!).toBeGreaterThanOrEqual(shortLastPartOf(sizing.minPartSize));
        expect(after.at(-1)!).toBeLessThan(shortLastPartOf(sizing.minPartSize) + after.length);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('short parts', () => {
  const base = {
    partsUsed: 0,
    offsetAfter: 6 * MiB,
    uploadLimit: 64 * MiB,
    partSize: 8 * MiB,
    minPartSize: 5 * MiB,
    maxMultipartParts: 10_000,
    equalParts: false,
  };

  it('are allowed from the minimum size up while the part budget holds', () => {
    expect(mayUploadShortPart({ ...base, bytes: 6 * MiB })).toBe(true);
    expect(mayUploadShortPart({ ...base, bytes: 5 * MiB - 1 })).toBe(false);
  });

  it('are refused when every remaining part must be full', () => {
    // 64 MiB in 8 parts of 8 MiB; one short part leaves 58 MiB for 7 parts: not enough.
    expect(mayUploadShortPart({ ...base, bytes: 6 * MiB, maxMultipartParts: 8 })).toBe(false);
    expect(mayUploadShortPart({ ...base, bytes: 6 * MiB, maxMultipartParts: 9 })).toBe(true);
  });

  it('are never allowed with equal parts', () => {
    expect(mayUploadShortPart({ ...base, bytes: 6 * MiB, equalParts: true })).toBe(false);
  });
});
