import { Readable } from 'node:stream';
import { ObjectKeys } from '../object-keys';
import type { S3Objects } from '../s3-objects';
import type { UploadInfo } from '../upload-info';
import { PartFlusher } from './part-flusher';
import type { RedisRuns } from './redis-runs';

const KiB = 1024;

/** An upload with `parts` parts of 8 KiB in its journal and `held` bytes after them in its Redis run. */
function uploadWith(parts: number, held: number, size: number | null): UploadInfo {
  return {
    id: 'u1',
    size,
    partSize: 8 * KiB,
    multipartUploadId: 'mpu',
    finishedAt: null,
    parts: Array.from({ length: parts }, (_, i) => ({ partNumber: i + 1, size: 8 * KiB, etag: `"e${i + 1}"` })),
    pending: held > 0 ? [{ in: 'redis', base: 0, size: held, skip: parts * 8 * KiB }] : [],
  } as unknown as UploadInfo;
}

describe('PartFlusher', () => {
  /** A flusher whose reads of the upload return `journals` in turn; `partGate` is awaited as each part starts. */
  function flusherOver(journals: UploadInfo[], partGate: () => Promise<void> = async () => undefined) {
    const uploaded: number[] = [];
    const objects = {
      uploadPart: async (_key: string, _id: string, part: { partNumber: number; body: () => Readable }) => {
        await partGate();
        for await (const chunk of part.body()) void chunk;
        uploaded.push(part.partNumber);
        return `"e${part.partNumber}"`;
      },
    } as unknown as S3Objects;
    const runs = {
      announceFlush: async () => undefined,
      renewFlush: async () => undefined,
      endFlush: async () => undefined,
      recordFlushed: async () => undefined,
      read: () => ({ open: () => Readable.from([Buffer.alloc(8 * KiB)]), end: () => undefined }),
    } as unknown as RedisRuns;
    let reads = 0;
    const flusher = new PartFlusher(objects, new ObjectKeys('p/'), runs, async () => journals[reads++]);
    return { flusher, uploaded };
  }

  it('uploads the full parts held, one after another', async () => {
    const { flusher, uploaded } = flusherOver([
      uploadWith(0, 17 * KiB, null),
      uploadWith(1, 9 * KiB, null),
      uploadWith(2, KiB, null),
    ]);
    flusher.schedule('u1');
    await flusher.idle();
    expect(uploaded).toEqual([1, 2]);
  });

  it('leaves the part that ends the upload to the request that brought its last byte', async () => {
    const { flusher, uploaded } = flusherOver([uploadWith(0, 16 * KiB, 16 * KiB), uploadWith(1, 8 * KiB, 16 * KiB)]);
    flusher.schedule('u1');
    await flusher.idle();
    expect(uploaded).toEqual([1]);
  });

  it('stops after the part it is uploading once a request settles it', async () => {
    let partStarted!: () => void;
    let releasePart!: () => void;
    const started = new Promise<void>((resolve) => (partStarted = resolve));
    const gate = () => (partStarted(), new Promise<void>((resolve) => (releasePart = resolve)));
    const { flusher, uploaded } = flusherOver([uploadWith(0, 24 * KiB, null), uploadWith(1, 16 * KiB, null)], gate);
    flusher.schedule('u1');
    await started;

    const settled = flusher.settle('u1');
    releasePart();

    expect(await settled).toBe(true);
    expect(uploaded).toEqual([1]); // part 2 was held in full, and not started
    expect(await flusher.settle('u1')).toBe(false); // nothing runs any more
  });
});
