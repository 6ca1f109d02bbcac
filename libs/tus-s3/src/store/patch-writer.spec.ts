import { PassThrough, Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { MemoryLocker } from '../locker/memory-locker';
import { LockInterruptedError } from '../locker/locker.interface';
import { ChunkRelease } from './chunk-release';
import type { HeldBytes } from './held-bytes/held-bytes';
import { S3HeldBytes } from './held-bytes/s3-held-bytes';
import { InfoObjects } from './info-objects';
import { MemoryBudget } from './memory-budget';
import { ObjectKeys } from './object-keys';
import { PatchWriter, PatchWriterConfig } from './patch-writer';
import { S3Objects } from './s3-objects';
import { Semaphore } from './semaphore';
import { UploadInfo } from './upload-info';

const MiB = 1024 * 1024;
const s3 = mockClient(S3Client);

/** What each UploadPart / PutObject received, read to the end as S3 would. */
let received: Array<{ command: string; key: string; partNumber?: number; bytes: Buffer }>;

async function drain(body: unknown): Promise<Buffer> {
  if (typeof body === 'string') return Buffer.from(body);
  const chunks: Buffer[] = [];
  for await (const chunk of body as Readable) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const objects = new S3Objects(new S3Client({ region: 'us-east-1' }), 'b');
const keys = new ObjectKeys('p/');
/** Held-back bytes as chunk objects in S3, the default. */
const inS3 = new S3HeldBytes(objects, keys, new InfoObjects(objects, keys));

function config(): PatchWriterConfig {
  return {
    objects,
    keys,
    minPartSize: 5 * MiB,
    maxMultipartParts: 10_000,
    equalParts: false,
    concurrency: 2,
    uploadLimit: 1024 * MiB,
  };
}

function info(overrides: Partial<UploadInfo> = {}): UploadInfo {
  return {
    id: 'abc',
    size: 100 * MiB,
    metadataHeader: '',
    metadata: {},
    createdAt: '2026-01-01T00:00:00.000Z',
    multipartUploadId: 'mpu-1',
    partSize: 8 * MiB,
    parts: [],
    heldIn: 's3',
    pending: [],
    finishedAt: null,
    ...overrides,
  };
}

function body(data: Buffer, chunkSize = 64 * 1024): Readable {
  const pieces: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunkSize) pieces.push(data.subarray(i, i + chunkSize));
  return Readable.from(pieces);
}

const pattern = (size: number, seed: number) => Buffer.alloc(size, seed);

beforeEach(() => {
  s3.reset();
  received = [];
  s3.on(UploadPartCommand).callsFake(async (input) => {
    received.push({
      command: 'UploadPart',
      key: input.Key,
      partNumber: input.PartNumber,
      bytes: await drain(input.Body),
    });
    return { ETag: `"etag-${input.PartNumber}"` };
  });
  s3.on(PutObjectCommand).callsFake(async (input) => {
    if (input.Key.endsWith('.info')) return {}; // journal checkpoints as parts land: s3-store.spec covers those
    received.push({ command: 'PutObject', key: input.Key, bytes: await drain(input.Body) });
    return {};
  });
});

describe('PatchWriter', () => {
  it('cuts a body into full parts and holds back a rest below the part minimum', async () => {
    const data = Buffer.concat([pattern(8 * MiB, 1), pattern(8 * MiB, 2), pattern(4 * MiB, 3)]);
    const lock = await new MemoryLocker().lock('abc');
    const result = await new PatchWriter(config(), inS3, info(), lock).write(body(data), Infinity);

    expect(result.parts.map((p) => [p.partNumber, p.size, p.etag])).toEqual([
      [1, 8 * MiB, '"etag-1"'],
      [2, 8 * MiB, '"etag-2"'],
    ]);
    expect(result.pending).toHaveLength(1);
    expect(result.pending[0].size).toBe(4 * MiB);
    expect(result.pending[0]).toEqual({
      in: 's3',
      key: expect.stringMatching(/^p\/abc\.chunk\.16777216\.[0-9a-f]+$/),
      size: 4 * MiB,
    });
    const sent = Buffer.concat(
      received.sort((a, b) => (a.partNumber ?? 99) - (b.partNumber ?? 99)).map((r) => r.bytes),
    );
    expect(sent.equals(data)).toBe(true);
    expect(result.stop).toBe('end');
  });

  it('starts the next part with the held-back chunks, streamed from S3, and reports them consumed', async () => {
    const held = pattern(3 * MiB, 7);
    s3.on(GetObjectCommand, { Key: 'p/abc.chunk.0.aa' }).resolves({ Body: Readable.from([held]) as never });
    const data = pattern(6 * MiB, 8);
    const lock = await new MemoryLocker().lock('abc');
    const start = info({ pending: [{ in: 's3', key: 'p/abc.chunk.0.aa', size: 3 * MiB }] });
    // Without checkpoints: one would save the journal once part 1 lands and report the chunk consumed itself.
    const result = await new PatchWriter(config(), inS3, start, lock, { checkpoints: false }).write(
      body(data),
      Infinity,
    );

    const part = received.find((r) => r.command === 'UploadPart')!;
    expect(part.partNumber).toBe(1);
    expect(part.bytes.equals(Buffer.concat([held, data.subarray(0, 5 * MiB)]))).toBe(true);
    expect(result.consumed).toEqual([{ in: 's3', key: 'p/abc.chunk.0.aa', size: 3 * MiB }]);
    expect(result.pending.map((c) => c.size)).toEqual([1 * MiB]);
  });

  it('sends the rest as the last part when the upload is complete, whatever its size', async () => {
    const data = pattern(9 * MiB, 4);
    const lock = await new MemoryLocker().lock('abc');
    const result = await new PatchWriter(config(), inS3, info({ size: 9 * MiB }), lock).write(body(data), 9 * MiB);
    expect(result.parts.map((p) => p.size)).toEqual([8 * MiB, 1 * MiB]);
    expect(result.pending).toEqual([]);
  });

  it('sends a rest of at least the minimum as a short part instead of holding it back', async () => {
    const lock = await new MemoryLocker().lock('abc');
    const result = await new PatchWriter(config(), inS3, info(), lock).write(body(pattern(6 * MiB, 5)), Infinity);
    expect(result.parts.map((p) => p.size)).toEqual([6 * MiB]);
    expect(result.pending).toEqual([]);
  });

  it('holds the rest back with equal parts, even above the minimum', async () => {
    const lock = await new MemoryLocker().lock('abc');
    const result = await new PatchWriter({ ...config(), equalParts: true }, inS3, info(), lock).write(
      body(pattern(6 * MiB, 5)),
      Infinity,
    );
    expect(result.parts).toEqual([]);
    expect(result.pending.map((c) => c.size)).toEqual([6 * MiB]);
  });

  it('keeps only the parts before a failed one, drops the bytes after it, and reports the failure', async () => {
    s3.on(UploadPartCommand, { PartNumber: 2 }).rejects(new Error('S3 is down'));
    const lock = await new MemoryLocker().lock('abc');
    const data = pattern(20 * MiB, 6);
    const result = await new PatchWriter(config(), inS3, info(), lock).write(body(data), Infinity);
    expect(result.failure).toBeDefined();
    expect(result.parts.map((p) => p.partNumber)).toEqual([1]);
    expect(result.pending).toEqual([]);
    expect(received.filter((r) => r.command === 'PutObject')).toEqual([]);
  });

  it('stops at maxBytes and says the body was too large', async () => {
    const lock = await new MemoryLocker().lock('abc');
    const result = await new PatchWriter(config(), inS3, info(), lock).write(body(pattern(3 * MiB, 1)), 2 * MiB);
    expect(result.stop).toBe('too-large');
    expect(result.bytesReceived).toBe(2 * MiB);
    expect(result.pending.map((c) => c.size)).toEqual([2 * MiB]);
  });

  /**
   * Writes 10 MiB in chunks as Node's HTTP parser hands them over (each the whole of its own memory), with the
   * chunks to be released once copied; returns the chunks afterwards, and whether S3 got every byte.
   */
  async function writeOwnChunks(writerConfig: PatchWriterConfig): Promise<{ chunks: Buffer[]; sentAll: boolean }> {
    await ChunkRelease.ready();
    const chunks = Array.from({ length: 160 }, (_, i) => Buffer.alloc(64 * 1024, i));
    const expected = Buffer.concat(chunks);
    const stream = Readable.from(chunks);
    const lock = await new MemoryLocker().lock('abc');
    const writer = new PatchWriter(writerConfig, inS3, info(), lock);
    const result = await writer.write(stream, Infinity, undefined, undefined, ChunkRelease.of(stream, true));
    // The rest, held back, may land in the background until the write is committed.
    await inS3.commit(writer.journal, result, lock);
    const sent = Buffer.concat(
      received.sort((a, b) => (a.partNumber ?? 99) - (b.partNumber ?? 99)).map((r) => r.bytes),
    );
    return { chunks, sentAll: sent.equals(expected) };
  }

  it('frees each chunk of a body of its own once the chunk is copied into a slab', async () => {
    const { chunks, sentAll } = await writeOwnChunks({ ...config(), memory: new MemoryBudget(32 * MiB) });
    expect(chunks.every((chunk) => chunk.length === 0)).toBe(true);
    expect(sentAll).toBe(true);
  });

  it('keeps the chunks it did not copy: without memory, they go to disk as they came', async () => {
    const { chunks, sentAll } = await writeOwnChunks(config());
    expect(chunks.every((chunk, i) => chunk.length === 64 * 1024 && chunk[0] === i)).toBe(true);
    expect(sentAll).toBe(true);
  });

  it('copies a body held back whole into slabs, frees its chunks, and counts every byte', async () => {
    await ChunkRelease.ready();
    // A strategy that holds small bodies back whole, as the Redis one does, holding them in S3 here.
    const holdingWhole: HeldBytes = Object.create(inS3) as HeldBytes;
    holdingWhole.planWrite = () => Promise.resolve({ holdWhole: true, equalParts: false });
    const chunks = Array.from({ length: 17 }, (_, i) => Buffer.alloc(i === 16 ? 5 : 64 * 1024, i));
    const expected = Buffer.concat(chunks);
    const stream = Readable.from(chunks);
    const lock = await new MemoryLocker().lock('abc');
    const writer = new PatchWriter({ ...config(), memory: new MemoryBudget(4 * MiB) }, holdingWhole, info(), lock);
    const result = await writer.write(stream, Infinity, expected.length, undefined, ChunkRelease.of(stream, true));
    expect(result.bytesReceived).toBe(expected.length);
    expect(result.pending.map((c) => c.size)).toEqual([expected.length]);
    expect(chunks.filter((chunk) => chunk.length > 0)).toHaveLength(0);
    await holdingWhole.commit(writer.journal, result, lock); // the held bytes may land in the background until then
    expect(Buffer.concat(received.map((r) => r.bytes)).equals(expected)).toBe(true);
  });

  describe('when the body says its length, and its parts fit in memory', () => {
    const withMemory = (earlyTransfers = new Semaphore(16)): PatchWriterConfig => ({
      ...config(),
      memory: new MemoryBudget(32 * MiB),
      earlyTransfers,
    });
    /** Resolves with whether the body had ended when S3 was sent the request `which` describes. */
    function whenSent(command: 'UploadPart' | 'PutObject', stream: PassThrough, which = 1) {
      return new Promise<boolean>((resolve) => {
        let seen = 0;
        const record = async (input: { Key: string; PartNumber?: number; Body?: unknown }) => {
          if (input.Key.endsWith('.info')) return {}; // journals, saved by commits
          if (++seen === which) resolve(stream.writableEnded);
          const bytes = await drain(input.Body);
          received.push({ command, key: input.Key, partNumber: input.PartNumber, bytes });
          return { ETag: `"etag-${input.PartNumber ?? 'whole'}"` };
        };
        if (command === 'UploadPart') s3.on(UploadPartCommand).callsFake(record);
        else s3.on(PutObjectCommand).callsFake(record);
      });
    }
    const wait = () => new Promise((resolve) => setTimeout(resolve, 20));

    it('uploads each part while its bytes still arrive, the last one too, and those uploads are the parts', async () => {
      const data = Buffer.concat([pattern(8 * MiB, 1), pattern(2 * MiB, 2)]);
      const stream = new PassThrough();
      const firstSent = whenSent('UploadPart', stream, 1);
      const lock = await new MemoryLocker().lock('abc');
      const writing = new PatchWriter(withMemory(), inS3, info({ size: 10 * MiB }), lock).write(
        stream,
        Infinity,
        data.length,
      );
      stream.write(data.subarray(0, MiB));
      expect(await firstSent).toBe(false); // part 1 went out with its first MiB
      const lastSent = whenSent('UploadPart', stream, 1); // counts from now: part 2
      stream.write(data.subarray(MiB, 9 * MiB));
      expect(await lastSent).toBe(false); // the last part too, before the last MiB came
      await wait();
      expect(received).toEqual([expect.objectContaining({ partNumber: 1 })]);
      stream.end(data.subarray(9 * MiB));
      const result = await writing;
      expect(result.parts.map((p) => [p.partNumber, p.size])).toEqual([
        [1, 8 * MiB],
        [2, 2 * MiB],
      ]);
      expect(result.pending).toEqual([]);
      const sent = received.sort((a, b) => a.partNumber! - b.partNumber!).map((r) => r.bytes);
      expect(Buffer.concat(sent).equals(data)).toBe(true);
    });

    it('cancels the early upload of a body that ends short, and holds back what arrived', async () => {
      const stream = new PassThrough();
      const sent = whenSent('UploadPart', stream);
      const lock = await new MemoryLocker().lock('abc');
      const writer = new PatchWriter(withMemory(), inS3, info({ size: 3 * MiB }), lock);
      const writing = writer.write(stream, Infinity, 3 * MiB);
      const arrived = pattern(2 * MiB, 3);
      stream.write(arrived);
      expect(await sent).toBe(false);
      stream.end(); // a MiB short of what the body said: the upload is not complete, nothing becomes a part
      const result = await writing;
      await inS3.commit(writer.journal, result, lock); // the held chunk may land in the background until then
      expect(result.parts).toEqual([]);
      expect(result.failure).toBeUndefined();
      expect(result.pending.map((c) => c.size)).toEqual([2 * MiB]);
      expect(received.map((r) => r.command)).toEqual(['PutObject']); // the cancelled part never completed
      expect(received[0].bytes.equals(arrived)).toBe(true);
    });

    it('sends a part again the ordinary way when its early upload fails', async () => {
      let attempts = 0;
      s3.on(UploadPartCommand).callsFake(async (input) => {
        const bytes = await drain(input.Body);
        if (input.PartNumber === 1 && ++attempts === 1)
          throw Object.assign(new Error('denied'), { name: 'AccessDenied' });
        received.push({ command: 'UploadPart', key: input.Key, partNumber: input.PartNumber, bytes });
        return { ETag: `"etag-${input.PartNumber}"` };
      });
      const data = pattern(9 * MiB, 4);
      const lock = await new MemoryLocker().lock('abc');
      const result = await new PatchWriter(withMemory(), inS3, info({ size: 9 * MiB }), lock).write(
        body(data),
        Infinity,
        data.length,
      );
      expect(result.failure).toBeUndefined();
      expect(result.parts.map((p) => [p.partNumber, p.size])).toEqual([
        [1, 8 * MiB],
        [2, 1 * MiB],
      ]);
      expect(attempts).toBe(2);
      const sent = received.sort((a, b) => a.partNumber! - b.partNumber!).map((r) => r.bytes);
      expect(Buffer.concat(sent).equals(data)).toBe(true);
    });

    it('stores a body that will be held as a chunk object while it arrives', async () => {
      const stream = new PassThrough();
      const sent = whenSent('PutObject', stream);
      const lock = await new MemoryLocker().lock('abc');
      const writer = new PatchWriter(withMemory(), inS3, info(), lock);
      const writing = writer.write(stream, Infinity, 1 * MiB);
      const data = pattern(MiB, 7);
      stream.write(data.subarray(0, 512 * 1024));
      expect(await sent).toBe(false); // the chunk's PUT went out with the first half of the body
      stream.end(data.subarray(512 * 1024));
      const result = await writing;
      await inS3.commit(writer.journal, result, lock); // waits for the chunk to land
      expect(result.pending).toEqual([
        { in: 's3', key: expect.stringMatching(/^p\/abc\.chunk\.0\.[0-9a-f]+$/), size: MiB },
      ]);
      expect(received.map((r) => [r.key, r.bytes.equals(data)])).toEqual([
        [(result.pending[0] as { key: string }).key, true],
      ]);
    });

    it('cancels the early chunk of a body that ends short, and holds what arrived', async () => {
      const stream = new PassThrough();
      const sent = whenSent('PutObject', stream);
      const lock = await new MemoryLocker().lock('abc');
      const writer = new PatchWriter(withMemory(), inS3, info(), lock);
      const writing = writer.write(stream, Infinity, 2 * MiB);
      const arrived = pattern(MiB, 8);
      stream.write(arrived);
      expect(await sent).toBe(false);
      stream.end(); // a MiB short of what the body said
      const result = await writing;
      await inS3.commit(writer.journal, result, lock);
      expect(result.pending.map((c) => c.size)).toEqual([MiB]);
      expect(received).toHaveLength(1); // the cancelled PUT never completed; the held MiB went up on its own
      expect(received[0].key).toBe((result.pending[0] as { key: string }).key);
      expect(received[0].bytes.equals(arrived)).toBe(true);
    });

    it('sends a held chunk again the ordinary way when its early PUT fails', async () => {
      let attempts = 0;
      s3.on(PutObjectCommand).callsFake(async (input) => {
        if (input.Key.endsWith('.info')) return {};
        const bytes = await drain(input.Body);
        if (++attempts === 1) throw Object.assign(new Error('denied'), { name: 'AccessDenied' });
        received.push({ command: 'PutObject', key: input.Key, bytes });
        return {};
      });
      const data = pattern(MiB, 9);
      const lock = await new MemoryLocker().lock('abc');
      const writer = new PatchWriter(withMemory(), inS3, info(), lock);
      const result = await writer.write(body(data), Infinity, data.length);
      await inS3.commit(writer.journal, result, lock);
      expect(attempts).toBe(2);
      expect(result.pending.map((c) => c.size)).toEqual([MiB]);
      expect(received.map((r) => [r.key, r.bytes.equals(data)])).toEqual([
        [(result.pending[0] as { key: string }).key, true],
      ]);
    });

    it('stops an early part when another request asks for the lock, and holds what arrived', async () => {
      const locker = new MemoryLocker({ waitMs: 5000 });
      const lock = await locker.lock('abc');
      const stream = new PassThrough();
      const sent = whenSent('UploadPart', stream);
      const writer = new PatchWriter(withMemory(), inS3, info(), lock);
      const writing = writer.write(stream, Infinity, 9 * MiB);
      const arrived = pattern(MiB, 10);
      stream.write(arrived); // then the client stalls
      expect(await sent).toBe(false); // part 1 went out early
      const waiting = locker.lock('abc');
      const result = await writing;
      await inS3.commit(writer.journal, result, lock);
      expect(result.stop).toBe('stopped');
      expect(result.parts).toEqual([]);
      expect(result.pending.map((c) => c.size)).toEqual([MiB]);
      expect(received.map((r) => r.command)).toEqual(['PutObject']); // the stopped part never completed
      expect(received[0].bytes.equals(arrived)).toBe(true);
      await lock.release();
      await (await waiting).release();
    });

    it('starts no more transfers early than the instance allows, and frees the slot when one is over', async () => {
      const slots = new Semaphore(1);
      const lock = await new MemoryLocker().lock('abc');
      const writeWith = async (taken: boolean) => {
        if (taken) slots.tryAcquire();
        const stream = new PassThrough();
        const sent = whenSent('UploadPart', stream);
        const writing = new PatchWriter(withMemory(slots), inS3, info({ size: 2 * MiB }), lock).write(
          stream,
          Infinity,
          2 * MiB,
        );
        stream.write(pattern(MiB, 11));
        await wait();
        stream.end(pattern(MiB, 12));
        const early = !(await sent);
        expect((await writing).parts.map((p) => p.size)).toEqual([2 * MiB]);
        if (taken) slots.release();
        return early;
      };
      expect(await writeWith(true)).toBe(false); // the one slot is taken: the part waits for its last byte
      expect(await writeWith(false)).toBe(true);
      expect(await writeWith(false)).toBe(true); // the slot came back once that upload was over
    });

    it('stores an upload whole with a PutObject that starts before its last byte, unless beforeFinish is asked first', async () => {
      for (const hooked of [false, true]) {
        received = [];
        const stream = new PassThrough();
        const sent = whenSent('PutObject', stream);
        const lock = await new MemoryLocker().lock('abc');
        const asked: number[] = [];
        const options = hooked ? { beforeStoringWhole: async (size: number) => void asked.push(size) } : {};
        const whole = info({ size: 3 * MiB, multipartUploadId: null });
        const writing = new PatchWriter(withMemory(), inS3, whole, lock, options).write(stream, Infinity, 3 * MiB);
        stream.write(pattern(2 * MiB, 5));
        await wait();
        stream.end(pattern(MiB, 6));
        expect(await sent).toBe(hooked); // with a hook, nothing is stored before it said yes
        const result = await writing;
        expect(result.parts.map((p) => p.size)).toEqual([3 * MiB]);
        expect(asked).toEqual(hooked ? [3 * MiB] : []);
        expect(received[0].key).toBe('p/abc');
        expect(received[0].bytes.equals(Buffer.concat([pattern(2 * MiB, 5), pattern(MiB, 6)]))).toBe(true);
      }
    });

    it('keeps all of an upload stored whole that is larger than a part in memory, its PutObject starting early', async () => {
      const stream = new PassThrough();
      const sent = whenSent('PutObject', stream);
      const lock = await new MemoryLocker().lock('abc');
      const whole = info({ size: 12 * MiB, multipartUploadId: null }); // a part and a half
      const writing = new PatchWriter(withMemory(), inS3, whole, lock).write(stream, Infinity, 12 * MiB);
      const data = Buffer.concat([pattern(9 * MiB, 7), pattern(3 * MiB, 8)]);
      stream.write(data.subarray(0, MiB));
      expect(await sent).toBe(false); // the spool has the whole body reserved: it can be followed
      stream.end(data.subarray(MiB));
      const result = await writing;
      expect(result.parts.map((p) => [p.partNumber, p.size])).toEqual([[1, 12 * MiB]]);
      expect(received.map((r) => [r.command, r.key])).toEqual([['PutObject', 'p/abc']]);
      expect(received[0].bytes.equals(data)).toBe(true);
    });
  });

  it('stops reading and keeps what arrived when another request asks for the lock', async () => {
    const locker = new MemoryLocker({ waitMs: 5000 });
    const lock = await locker.lock('abc');
    const stream = new Readable({ read() {} });
    stream.push(pattern(1 * MiB, 9)); // then the client stalls: no more data, no end
    const writing = new PatchWriter(config(), inS3, info(), lock).write(stream, Infinity);
    await new Promise((r) => setTimeout(r, 50));
    const waiting = locker.lock('abc');
    const result = await writing;
    expect(result.stop).toBe('stopped');
    expect(result.pending.map((c) => c.size)).toEqual([1 * MiB]);
    await lock.release();
    await (await waiting).release();
  });

  it('writes nothing once the lock is lost', async () => {
    const lock = await new MemoryLocker().lock('abc');
    await lock.release(); // a released lock is as unusable as a lost one
    await expect(
      new PatchWriter(config(), inS3, info(), lock).write(body(pattern(9 * MiB, 1)), Infinity),
    ).rejects.toBeInstanceOf(LockInterruptedError);
    expect(received).toEqual([]);
  });
});
