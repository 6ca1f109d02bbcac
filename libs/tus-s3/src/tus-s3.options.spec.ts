import { normalizeMountPath, resolveOptions, TusS3OptionsError } from './tus-s3.options';

describe('module options', () => {
  it('fills S3 defaults', () => {
    const resolved = resolveOptions({ bucket: 'uploads' });
    expect(resolved).toMatchObject({
      bucket: 'uploads',
      objectPrefix: '',
      minPartSize: 5 * 1024 * 1024,
      preferredPartSize: 8 * 1024 * 1024,
      maxMultipartParts: 10_000,
      partUploadConcurrency: 4,
      redis: { urls: [], keyPrefix: 'tus:' },
    });
    expect(resolved.maxSize).toBe(resolved.maxObjectSize);
  });

  it('names every problem at once', () => {
    let message = '';
    try {
      resolveOptions({
        bucket: 'Not_A_Bucket',
        partSize: { min: 10, preferred: 5 },
        maxSize: -1,
        redis: { urls: ['localhost:6379'] },
        cors: { origins: '*', credentials: true },
      });
    } catch (error) {
      expect(error).toBeInstanceOf(TusS3OptionsError);
      message = (error as Error).message;
    }
    expect(message).toContain('bucket must be a valid S3 bucket name');
    expect(message).toContain('partSize.preferred must be at least partSize.min');
    expect(message).toContain('maxSize must be a positive integer');
    expect(message).toContain('redis url must start with redis://');
    expect(message).toContain('cors.credentials cannot be used with origins "*"');
  });

  it('refuses a maxSize that 10,000 parts of the largest size cannot hold', () => {
    expect(() => resolveOptions({ bucket: 'uploads', partSize: { max: 8 * 1024 * 1024 }, maxSize: 10 ** 12 })).toThrow(
      /cannot be stored in 10000 parts/,
    );
  });

  it.each([
    [undefined, '/files'],
    ['uploads', '/uploads'],
    ['/api/files/', '/api/files'],
    ['/', '/'],
  ])('normalizes the mount path %s to %s', (path, expected) => {
    expect(normalizeMountPath(path)).toBe(expected);
  });

  it('sizes the memory budget for one PATCH at full speed unless told: its part uploads and the part filling', () => {
    const MiB = 1024 * 1024;
    expect(resolveOptions({ bucket: 'uploads' }).memoryBudget).toBe(5 * 8 * MiB);
    const tuned = { bucket: 'uploads', partUploadConcurrency: 2, partSize: { preferred: 16 * MiB } };
    expect(resolveOptions(tuned).memoryBudget).toBe(3 * 16 * MiB);
    expect(resolveOptions({ ...tuned, memoryBudget: 0 }).memoryBudget).toBe(0);
  });

  it('stores uploads of up to two preferred parts whole unless told, and takes the deprecated switch', () => {
    const MiB = 1024 * 1024;
    expect(resolveOptions({ bucket: 'uploads' }).storeWholeUpTo).toBe(16 * MiB);
    expect(resolveOptions({ bucket: 'uploads', partSize: { preferred: 32 * MiB } }).storeWholeUpTo).toBe(64 * MiB);
    expect(resolveOptions({ bucket: 'uploads', storeWholeUpTo: 0 }).storeWholeUpTo).toBe(0);
    expect(resolveOptions({ bucket: 'uploads', storeWholeUpTo: 100 * MiB }).storeWholeUpTo).toBe(100 * MiB);
    expect(resolveOptions({ bucket: 'uploads', storeSmallUploadsWhole: false }).storeWholeUpTo).toBe(0);
    expect(resolveOptions({ bucket: 'uploads', storeSmallUploadsWhole: true }).storeWholeUpTo).toBe(16 * MiB);
    expect(() => resolveOptions({ bucket: 'uploads', storeWholeUpTo: 6 * 1024 * MiB })).toThrow(
      /storeWholeUpTo must be a number of bytes from 0 to 5368709120 \(S3's PutObject limit\)/,
    );
    expect(() => resolveOptions({ bucket: 'uploads', storeWholeUpTo: -1 })).toThrow(/storeWholeUpTo/);
    expect(() => resolveOptions({ bucket: 'uploads', storeSmallUploadsWhole: false, storeWholeUpTo: MiB })).toThrow(
      /storeSmallUploadsWhole: false contradicts storeWholeUpTo/,
    );
  });

  it('refuses a mount path with route syntax', () => {
    expect(() => normalizeMountPath('/files/:id')).toThrow(TusS3OptionsError);
  });

  it('checks the metrics option and passes it on', () => {
    expect(resolveOptions({ bucket: 'uploads' }).metrics).toBeUndefined();
    expect(resolveOptions({ bucket: 'uploads', metrics: false }).metrics).toBe(false);
    expect(resolveOptions({ bucket: 'uploads', metrics: { prefix: 'app_' } }).metrics).toEqual({ prefix: 'app_' });
    expect(() => resolveOptions({ bucket: 'uploads', metrics: { prefix: 'my-app' } })).toThrow(/metrics.prefix/);
    const notARegistry = {} as never;
    expect(() => resolveOptions({ bucket: 'uploads', metrics: { registry: notARegistry } })).toThrow(
      /metrics.registry/,
    );
  });

  it('checks the expiry options: off by default, positive milliseconds, a sweep needs an expiry', () => {
    const defaults = resolveOptions({ bucket: 'uploads' });
    expect(defaults).toMatchObject({
      expireAfterMs: null,
      sweepEveryMs: null,
      sweepMaxCallsPerMinute: 600,
      tagIncomplete: true,
    });
    expect(
      resolveOptions({ bucket: 'uploads', expireAfterMs: 1000, sweepEveryMs: 500, tagIncomplete: false }),
    ).toMatchObject({
      expireAfterMs: 1000,
      sweepEveryMs: 500,
      tagIncomplete: false,
    });
    expect(() => resolveOptions({ bucket: 'uploads', expireAfterMs: 0 })).toThrow(/expireAfterMs/);
    expect(() => resolveOptions({ bucket: 'uploads', expireAfterMs: 1.5 })).toThrow(/expireAfterMs/);
    expect(() => resolveOptions({ bucket: 'uploads', sweepEveryMs: 1000 })).toThrow(/sweepEveryMs needs expireAfterMs/);
    expect(() => resolveOptions({ bucket: 'uploads', sweepMaxCallsPerMinute: -1 })).toThrow(/sweepMaxCallsPerMinute/);
    expect(() => resolveOptions({ bucket: 'uploads', tagIncomplete: 'yes' as never })).toThrow(/tagIncomplete/);
    expect(
      resolveOptions({ bucket: 'uploads', expireAfterMs: 1000, extensions: { expiration: false } }).expireAfterMs,
    ).toBeNull();
  });
});
