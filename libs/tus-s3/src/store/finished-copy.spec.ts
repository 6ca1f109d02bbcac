import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  S3Client,
  UploadPartCopyCommand,
  UploadPartCopyCommandInput,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { copyFinishedObject, copyRanges, DEFAULT_FINISHED_COPY, FinishedCopyPlan } from './finished-copy';
import { S3Objects } from './s3-objects';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const s3 = mockClient(S3Client);
const objects = new S3Objects(new S3Client({ region: 'us-east-1' }), 'uploads');
const to = { bucket: 'archive', key: 'done/u1' };
const plan: FinishedCopyPlan = { multipartAbove: 100, partSize: 30, maxParts: 10_000, concurrency: 2 };

beforeEach(() => {
  s3.reset();
  s3.on(HeadObjectCommand).resolves({ ContentType: 'text/plain', Metadata: { filename: 'a.txt' } });
  s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'copy-1' });
  s3.on(UploadPartCopyCommand).callsFake((input: UploadPartCopyCommandInput) =>
    Promise.resolve({ CopyPartResult: { ETag: `"etag-${input.PartNumber}"` } }),
  );
  s3.on(CompleteMultipartUploadCommand).resolves({});
  s3.on(AbortMultipartUploadCommand).resolves({});
  s3.on(CopyObjectCommand).resolves({});
});

describe('copyRanges', () => {
  it('cuts the object into part-size ranges, the last one shorter, inclusive ends', () => {
    expect(copyRanges(100, { partSize: 30, maxParts: 10_000 })).toEqual([
      { start: 0, end: 29 },
      { start: 30, end: 59 },
      { start: 60, end: 89 },
      { start: 90, end: 99 },
    ]);
    expect(copyRanges(90, { partSize: 30, maxParts: 10_000 })).toHaveLength(3);
  });

  it('grows the part size so that no copy needs more than maxParts parts', () => {
    const size = 6 * 1024 * GiB; // 6 TiB: 512 MiB parts would be 12,288
    const ranges = copyRanges(size, DEFAULT_FINISHED_COPY);
    expect(ranges.length).toBeLessThanOrEqual(10_000);
    expect(ranges[0]).toEqual({ start: 0, end: Math.ceil(size / 10_000) - 1 });
    expect(ranges.at(-1)!.end).toBe(size - 1);
    expect(copyRanges(6 * GiB, DEFAULT_FINISHED_COPY)).toHaveLength(12); // 512 MiB parts below that
  });
});

describe('copyFinishedObject', () => {
  it('uses a single CopyObject up to the threshold', async () => {
    await copyFinishedObject(objects, 'p/u1', 100, to, plan);

    expect(s3.commandCalls(CopyObjectCommand)[0].args[0].input).toMatchObject({
      Bucket: 'archive',
      Key: 'done/u1',
      CopySource: 'uploads/p/u1',
    });
    expect(s3.commandCalls(CreateMultipartUploadCommand)).toHaveLength(0);
  });

  it('above it, copies byte ranges in parallel into a multipart upload with the source metadata, and completes it', async () => {
    let running = 0;
    let most = 0;
    s3.on(UploadPartCopyCommand).callsFake(async (input: UploadPartCopyCommandInput) => {
      most = Math.max(most, ++running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
      return { CopyPartResult: { ETag: `"etag-${input.PartNumber}"` } };
    });

    await copyFinishedObject(objects, 'p/u1', 101, to, plan);

    expect(s3.commandCalls(CreateMultipartUploadCommand)[0].args[0].input).toEqual({
      Bucket: 'archive',
      Key: 'done/u1',
      ContentType: 'text/plain',
      Metadata: { filename: 'a.txt' },
    });
    const copies = s3.commandCalls(UploadPartCopyCommand).map((c) => c.args[0].input);
    expect(copies.map((c) => [c.PartNumber, c.CopySourceRange])).toEqual([
      [1, 'bytes=0-29'],
      [2, 'bytes=30-59'],
      [3, 'bytes=60-89'],
      [4, 'bytes=90-100'],
    ]);
    expect(
      copies.every((c) => c.Bucket === 'archive' && c.UploadId === 'copy-1' && c.CopySource === 'uploads/p/u1'),
    ).toBe(true);
    expect(most).toBe(2);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)[0].args[0].input).toEqual({
      Bucket: 'archive',
      Key: 'done/u1',
      UploadId: 'copy-1',
      MultipartUpload: { Parts: [1, 2, 3, 4].map((n) => ({ PartNumber: n, ETag: `"etag-${n}"` })) },
    });
    expect(s3.commandCalls(AbortMultipartUploadCommand)).toHaveLength(0);
  });

  it('aborts the multipart copy when a part fails mid-way, after the parts in flight settled, and starts no more', async () => {
    s3.on(UploadPartCopyCommand).callsFake(async (input: UploadPartCopyCommandInput) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (input.PartNumber === 2) throw Object.assign(new Error('slow down'), { name: 'SlowDown' });
      return { CopyPartResult: { ETag: `"etag-${input.PartNumber}"` } };
    });

    await expect(copyFinishedObject(objects, 'p/u1', 200, to, plan)).rejects.toThrow(
      'could not copy part 2 to archive',
    );

    expect(s3.commandCalls(UploadPartCopyCommand).length).toBeLessThan(7); // 7 parts planned, 2 at a time
    expect(s3.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(0);
    expect(s3.commandCalls(AbortMultipartUploadCommand)[0].args[0].input).toEqual({
      Bucket: 'archive',
      Key: 'done/u1',
      UploadId: 'copy-1',
    });
  });
});
