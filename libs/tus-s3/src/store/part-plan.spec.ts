import { choosePartSize, mayUploadShortPart, S3_LIMITS } from './part-plan';

const MiB = 1024 * 1024;
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
