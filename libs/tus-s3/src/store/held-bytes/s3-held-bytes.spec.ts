import { randomBytes } from 'node:crypto';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Logger } from '@nestjs/common';
import { drain, FakeS3 } from '../../../../../test/support/fake-s3';
import type { UploadLock } from '../../locker/locker.interface';
import { MemoryLocker } from '../../locker/memory-locker';
import { ChunkRelease } from '../chunk-release';
import { InfoObjects } from '../info-objects';
import { MemoryBudget } from '../memory-budget';
import { ObjectKeys } from '../object-keys';
import { S3Objects } from '../s3-objects';
import { Spool } from '../spool';
import { HeldBytesMissingError, isHeldBytesMissing, StorageError } from '../store-errors';
import { StoredChunk, StoredJournal, UploadInfo } from '../upload-info';
import type { HeldKey, WrittenBytes } from './held-bytes';
import { S3HeldBytes } from './s3-held-bytes';

const s3 = new FakeS3();
const objects = new S3Objects(new S3Client({ region: 'us-east-1' }), 'b');
const keys = new ObjectKeys('p/');
const held = new S3HeldBytes(objects, keys, new InfoObjects(objects, keys));
const locker = new MemoryLocker();

const chunk = (name: string, size: number): HeldKey => ({ in: 's3', key: `p/abc.chunk.${name}`, size });

function journal(overrides: Partial<UploadInfo> = {}): UploadInfo {
  return {
    id: 'abc',
    size: 100,
    metadataHeader: '',
    metadata: {},
    createdAt: '2026-01-01T00:00:00.000Z',
    multipartUploadId: 'mpu-1',
    partSize: 50,
    parts: [],
    heldIn: 's3',
    pending: [],
    finishedAt: null,
    ...overrides,
  };
}

async function spoolOf(data: Buffer): Promise<Spool> {
  const spool = await Spool.create(undefined);
  await spool.write(data);
  await spool.close();
  return spool;
}

beforeEach(() => s3.reset());

describe('S3HeldBytes', () => {
  it('holds bytes as one more chunk object, named by the offset where they start, after those held already', async () => {
    const lock = await locker.lock('abc');
    const data = randomBytes(30);
    const spool = await spoolOf(data);
    try {
      const before = [chunk('0.aa', 10)];
      const after = await holdAndCommit(held, journal({ pending: before }), spool, 10, lock);
      expect(after).toEqual([
        before[0],
        { in: 's3', key: expect.stringMatching(/^p\/abc\.chunk\.10\.[0-9a-f]{8}$/), size: 30 },
      ]);
      expect(s3.body(`b/${(after[1] as { key: string }).key}`)).toEqual(data);
    } finally {
      await spool.dispose();
      await lock.release();
    }
  });

  it('reads back the chunks it wrote itself from memory; another instance reads them from S3', async () => {
    const lock = await locker.lock('abc');
    const data = randomBytes(3000);
    const spool = await Spool.create(undefined);
    for (let at = 0; at < data.length; at += 1000) await spool.write(data.subarray(at, at + 1000));
    await spool.close();
    try {
      const mine = new S3HeldBytes(objects, keys, new InfoObjects(objects, keys));
      const [stored] = await holdAndCommit(mine, journal(), spool, 0, lock);
      const gets = () => s3.mock.commandCalls(GetObjectCommand).length;
      const before = gets();
      expect(await drain(mine.read('abc', [stored], new AbortController().signal).open())).toEqual(data);
      expect(gets()).toBe(before); // no request: the received buffers were kept
      expect(await drain(held.read('abc', [stored], new AbortController().signal).open())).toEqual(data);
      expect(gets()).toBe(before + 1);
      await mine.drop(journal({ pending: [stored] })); // deleted: forgotten too
      await expect(drain(mine.read('abc', [stored], new AbortController().signal).open())).rejects.toThrow(
        'missing from S3',
      );
    } finally {
      await spool.dispose();
      await lock.release();
    }
  });

  it('leaves the chunks it kept as received to the collector: somebody else may hold them', async () => {
    await ChunkRelease.ready();
    const lock = await locker.lock('abc');
    // Whole buffers of their own, as Node's HTTP parser hands them over; without a memory budget, kept as they are.
    const received = [1000, 2000].map((size) => Buffer.from(new ArrayBuffer(size)).fill(size / 1000));
    const data = Buffer.concat(received);
    const spool = await Spool.create(undefined);
    for (const chunk of received) expect(await spool.write(chunk)).toBe(false);
    await spool.close();
    try {
      const mine = new S3HeldBytes(objects, keys, new InfoObjects(objects, keys));
      const [stored] = await holdAndCommit(mine, journal(), spool, 0, lock);
      const transfer = mine.read('abc', [stored], new AbortController().signal);
      expect(await drain(transfer.open())).toEqual(data);
      transfer.end(true);
      await mine.drop(journal({ pending: [stored] }));
      expect(received.map((chunk) => chunk.length)).toEqual([1000, 2000]);
    } finally {
      await spool.dispose();
      await lock.release();
    }
  });

  it('keeps the slabs a chunk was received in rather than a copy, and gives them back to the budget once deleted', async () => {
    const MiB = 1024 * 1024;
    const lock = await locker.lock('abc');
    const budget = new MemoryBudget(4 * MiB);
    const data = randomBytes(MiB + 100);
    const spool = await Spool.create(undefined, budget, { expectedBytes: data.length });
    await spool.write(data); // copied into two slabs
    await spool.close();
    try {
      const mine = new S3HeldBytes(objects, keys, new InfoObjects(objects, keys));
      const [stored] = await holdAndCommit(mine, journal({ size: 4 * MiB, partSize: 2 * MiB }), spool, 0, lock);
      await spool.dispose();
      expect(budget.allocatedBytes).toBe(0); // the cache has them, not the pool
      const other = await Spool.create(undefined, budget, { expectedBytes: 2 * MiB });
      await other.write(Buffer.alloc(2 * MiB, 1)); // so fresh slabs: those cached are not lent meanwhile
      await other.dispose();
      // Only the cache can serve them now.
      for (const key of [...s3.objects.keys()]) if (key.startsWith('b/p/abc.chunk.')) s3.objects.delete(key);

      const transfer = mine.read('abc', [stored], new AbortController().signal);
      expect(await drain(transfer.open())).toEqual(data);
      transfer.end(true);
      await mine.drop(journal({ pending: [stored] }));
      expect(budget.allocatedBytes).toBe(4 * MiB); // both back in the pool
    } finally {
      await lock.release();
    }
  });

  it('reads chunk objects in order into one stream, more of them than it asks for ahead', async () => {
    const pieces = Array.from({ length: 7 }, (_, i) => randomBytes(5 + i));
    const chunks = pieces.map((bytes, i) => {
      s3.objects.set(`b/p/abc.chunk.${i}.aa`, { body: bytes });
      return chunk(`${i}.aa`, bytes.length);
    });
    expect(await drain(held.read('abc', chunks, new AbortController().signal).open())).toEqual(Buffer.concat(pieces));
  });

  it('fails the stream when a chunk object is missing, saying held bytes are missing', async () => {
    s3.objects.set('b/p/abc.chunk.0.aa', { body: randomBytes(5) });
    const failure = await drain(
      held.read('abc', [chunk('0.aa', 5), chunk('5.bb', 5)], new AbortController().signal).open(),
    ).catch((error: unknown) => error);
    expect(isHeldBytesMissing(failure)).toBe(true);
  });

  it('falls back to the parts when a write failed on a missing chunk: the journal lists none, the rest are deleted', async () => {
    const lock = await locker.lock('abc');
    try {
      s3.objects.set('b/p/abc.chunk.60.bb', { body: randomBytes(10) }); // 50.aa is the one missing
      const part = { partNumber: 1, size: 50, etag: '"e1"' };
      const before = journal({ parts: [part], pending: [chunk('50.aa', 10), chunk('60.bb', 10)] });
      const after = await held.commit(
        before,
        {
          parts: [part],
          pending: [...before.pending],
          consumed: [],
          bytesReceived: 5,
          stop: 'end',
          failure: new StorageError('part 2 upload failed', new HeldBytesMissingError('S3')),
        },
        lock,
      );
      expect(after.pending).toEqual([]);
      expect(s3.json('b/p/abc.info')).toEqual({ ...journalStored(before), parts: [part], pending: [] });
      expect(s3.names('b/p/abc.chunk.')).toEqual([]);
    } finally {
      await lock.release();
    }
  });

  it('splits held chunks only between objects: a part never ends inside one', () => {
    const chunks = [chunk('0.a', 10), chunk('10.b', 20), chunk('30.c', 5)];
    expect(held.split(chunks, 30)).toEqual([chunks.slice(0, 2), chunks.slice(2)]);
    expect(held.split(chunks, 0)).toEqual([[], chunks]);
    expect(held.split(chunks, 35)).toEqual([chunks, []]);
    expect(() => held.split(chunks, 15)).toThrow('cannot be split');
  });

  it('never holds a body back whole, nor forces equal parts', async () => {
    expect(await held.planWrite()).toEqual({ holdWhole: false, equalParts: false });
  });

  it('commits a write: saves the journal, listing chunks as .info always did, then deletes the chunks now in parts', async () => {
    const lock = await locker.lock('abc');
    // The deletion waits until the commit has returned: the write is not held up by it.
    let allowDelete!: () => void;
    const deleteAllowed = new Promise<void>((resolve) => (allowDelete = resolve));
    s3.mock.on(DeleteObjectCommand).callsFake(async (input: { Bucket: string; Key: string }) => {
      await deleteAllowed;
      s3.objects.delete(`${input.Bucket}/${input.Key}`);
      return {};
    });
    try {
      s3.objects.set('b/p/abc.chunk.0.aa', { body: randomBytes(10) });
      const before = journal({ pending: [chunk('0.aa', 10)] });
      const part = { partNumber: 1, size: 50, etag: '"e1"' };
      const after = await held.commit(
        before,
        { parts: [part], pending: [chunk('50.bb', 7)], consumed: [chunk('0.aa', 10)], bytesReceived: 47, stop: 'end' },
        lock,
      );
      expect(after).toEqual({ ...before, parts: [part], pending: [chunk('50.bb', 7)] });
      expect(s3.json('b/p/abc.info')).toEqual({
        ...journalStored(before),
        parts: [part],
        pending: [{ key: 'p/abc.chunk.50.bb', size: 7 }],
      });
      expect(s3.names('b/p/abc.chunk.')).toEqual(['b/p/abc.chunk.0.aa']);
      allowDelete();
      await held.idle();
      expect(s3.names('b/p/abc.chunk.')).toEqual([]);
    } finally {
      await lock.release();
    }
  });

  it('commits a write whose chunks in parts cannot be deleted: logged, and left for the sweeper', async () => {
    const lock = await locker.lock('abc');
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    s3.mock.on(DeleteObjectCommand).rejects(new Error('SlowDown'));
    try {
      s3.objects.set('b/p/abc.chunk.0.aa', { body: randomBytes(10) });
      const before = journal({ pending: [chunk('0.aa', 10)] });
      const part = { partNumber: 1, size: 10, etag: '"e1"' };
      const after = await held.commit(
        before,
        { parts: [part], pending: [], consumed: [chunk('0.aa', 10)], bytesReceived: 0, stop: 'end' },
        lock,
      );
      await held.idle();
      expect(after.parts).toEqual([part]);
      expect(s3.json('b/p/abc.info')).toMatchObject({ parts: [part], pending: [] });
      expect(s3.names('b/p/abc.chunk.')).toEqual(['b/p/abc.chunk.0.aa']);
      expect(warn.mock.calls.join('\n')).toMatch(/could not delete 1 held-back chunk object.*p\/abc.chunk.0.aa/);
    } finally {
      warn.mockRestore();
      await lock.release();
    }
  });

  it('commits a write that stored nothing without touching S3', async () => {
    const lock = await locker.lock('abc');
    try {
      const before = journal({ pending: [chunk('0.aa', 10)] });
      await held.commit(
        before,
        { parts: [], pending: [...before.pending], consumed: [], bytesReceived: 0, stop: 'client-aborted' },
        lock,
      );
      expect(s3.mock.calls()).toHaveLength(0);
    } finally {
      await lock.release();
    }
  });

  it('loads the chunks .info lists as held keys, and saves them back in the same format', async () => {
    const stored: StoredJournal = { ...journalStored(journal()), pending: [{ key: 'p/abc.chunk.0.aa', size: 10 }] };
    const loaded = await held.load(stored);
    expect(loaded).toEqual(journal({ pending: [chunk('0.aa', 10)] }));
    await held.save(loaded);
    expect(s3.json('b/p/abc.info')).toEqual(stored);
  });

  describe('a write puts its chunk object and the journal that lists it at the same time', () => {
    const landing = /^p\/abc\.chunk\.10\.[0-9a-f]{8}$/;

    const before = journal({ pending: [chunk('0.aa', 10)] });

    /** Runs `test` under a lock, with `hold` holding 30 bytes after `before`'s chunk; cleans up after it. */
    async function withWrite(test: (lock: UploadLock, hold: () => Promise<WrittenBytes>) => Promise<void>) {
      const lock = await locker.lock('abc');
      const spool = await spoolOf(randomBytes(30));
      try {
        await test(lock, async () => {
          const pending = await held.hold(before, before.pending, spool, 10, lock);
          return { parts: [], pending, consumed: [], bytesReceived: 30, stop: 'end' };
        });
      } finally {
        jest.restoreAllMocks();
        await spool.dispose();
        await lock.release();
      }
    }

    it('lists the chunk as unconfirmed in that journal, answers only once both landed, and confirms it later', () =>
      withWrite(async (lock, hold) => {
        let landed = false;
        let journalWasUp = false;
        const put = objects.putStream.bind(objects);
        jest.spyOn(objects, 'putStream').mockImplementationOnce(async (...args) => {
          await new Promise((resolve) => setTimeout(resolve, 30));
          journalWasUp = s3.names('b/p/abc.info').length === 1;
          await put(...args);
          landed = true;
        });
        const written = await hold();
        expect(landed).toBe(false);
        const after = await held.commit(before, written, lock);
        expect(landed).toBe(true);
        expect(journalWasUp).toBe(true); // not one after the other
        expect(s3.json('b/p/abc.info').pending).toEqual([
          { key: 'p/abc.chunk.0.aa', size: 10 },
          { key: expect.stringMatching(landing), size: 30, unconfirmed: true },
        ]);
        await held.save(after);
        expect(s3.json('b/p/abc.info').pending).toEqual([
          { key: 'p/abc.chunk.0.aa', size: 10 },
          { key: expect.stringMatching(landing), size: 30 },
        ]);
      }));

    it('saves the journal again without the chunk when its PUT failed, and fails the write', () =>
      withWrite(async (lock, hold) => {
        jest.spyOn(objects, 'putStream').mockRejectedValueOnce(new StorageError('S3 said no'));
        await expect(held.commit(before, await hold(), lock)).rejects.toThrow('S3 said no');
        expect(s3.json('b/p/abc.info').pending).toEqual([{ key: 'p/abc.chunk.0.aa', size: 10 }]);
        expect((await held.load(s3.json('b/p/abc.info') as unknown as StoredJournal)).pending).toEqual(before.pending);
      }));

    it('fails the write when its lock was lost while the chunk landed: a new holder may have dropped the chunk', () =>
      withWrite(async (lock, hold) => {
        const put = objects.putStream.bind(objects);
        jest.spyOn(objects, 'putStream').mockImplementationOnce(async (...args) => {
          await put(...args);
          await lock.release();
        });
        await expect(held.commit(before, await hold(), lock)).rejects.toThrow();
      }));

    it('drops an unconfirmed chunk that is missing when the journal is read from S3 (the process died first)', async () => {
      s3.objects.set('b/p/abc.chunk.0.aa', { body: randomBytes(10) });
      const listing = (confirmedLast: boolean): StoredJournal => ({
        ...journalStored(journal()),
        pending: [
          { key: 'p/abc.chunk.0.aa', size: 10, unconfirmed: true },
          { key: 'p/abc.chunk.10.bb', size: 30, ...(confirmedLast ? {} : { unconfirmed: true as const }) },
        ],
      });
      expect((await held.load(listing(false))).pending).toEqual([chunk('0.aa', 10)]);
      s3.objects.set('b/p/abc.chunk.10.bb', { body: randomBytes(30) });
      expect((await held.load(listing(false))).pending).toEqual([chunk('0.aa', 10), chunk('10.bb', 30)]);
      s3.objects.delete('b/p/abc.chunk.0.aa');
      expect((await held.load(listing(true))).pending).toEqual([]);
    });

    it('under the lock, saves the journal without an unconfirmed chunk it found missing: landing later, it never counts', async () => {
      const lock = await locker.lock('abc');
      const { infos, strategy } = journalInS3([
        { key: 'p/abc.chunk.0.aa', size: 10 },
        { key: 'p/abc.chunk.10.bb', size: 30, unconfirmed: true },
      ]);
      try {
        s3.objects.set('b/p/abc.chunk.0.aa', { body: randomBytes(10) });
        const seen = await strategy.load(await infos.read('abc', lock), lock);
        expect(seen.pending).toEqual([chunk('0.aa', 10)]);
        expect(s3.json('b/p/abc.info').pending).toEqual([{ key: 'p/abc.chunk.0.aa', size: 10 }]);
      } finally {
        await lock.release();
      }
      // The writer was paused after its journal went out; its chunk lands now.
      s3.objects.set('b/p/abc.chunk.10.bb', { body: randomBytes(30) });
      const next = await locker.lock('abc');
      try {
        const later = await strategy.load(await infos.read('abc', next), next);
        expect(later.pending).toEqual([chunk('0.aa', 10)]);
      } finally {
        await next.release();
      }
    });

    it('checks an unconfirmed chunk once per lock: the next read under that lock trusts what it found', async () => {
      const lock = await locker.lock('abc');
      const { infos, strategy } = journalInS3([{ key: 'p/abc.chunk.0.aa', size: 10, unconfirmed: true }]);
      try {
        s3.objects.set('b/p/abc.chunk.0.aa', { body: randomBytes(10) });
        const heads = () => s3.mock.commandCalls(HeadObjectCommand).length;
        await strategy.load(await infos.read('abc', lock), lock);
        expect(heads()).toBe(1);
        const again = await strategy.load(await infos.read('abc', lock), lock);
        expect(heads()).toBe(1);
        expect(again.pending).toEqual([chunk('0.aa', 10)]);
      } finally {
        await lock.release();
      }
    });
  });

  it('drops every chunk object of an upload', async () => {
    s3.objects.set('b/p/abc.chunk.0.aa', { body: randomBytes(10) });
    s3.objects.set('b/p/abc.chunk.10.bb', { body: randomBytes(10) });
    await held.drop(journal({ pending: [chunk('0.aa', 10), chunk('10.bb', 10), chunk('20.gone', 10)] }));
    expect(s3.names()).toEqual([]);
  });
});

/** `hold`, then the `commit` of that write, which returns once the chunk object landed. */
async function holdAndCommit(
  strategy: S3HeldBytes,
  before: UploadInfo,
  spool: Spool,
  at: number,
  lock: UploadLock,
): Promise<HeldKey[]> {
  const pending = await strategy.hold(before, before.pending, spool, at, lock);
  const bytesReceived = spool.size;
  await strategy.commit(before, { parts: [...before.parts], pending, consumed: [], bytesReceived, stop: 'end' }, lock);
  return pending;
}

/**
 * A journal in S3 listing `pending` (as another instance wrote it), and a strategy with journals of its own to read
 * it through, so that nothing is remembered from an earlier test.
 */
function journalInS3(pending: StoredChunk[]): { infos: InfoObjects; strategy: S3HeldBytes } {
  const stored: StoredJournal = { ...journalStored(journal()), pending };
  s3.objects.set('b/p/abc.info', { body: Buffer.from(JSON.stringify(stored)) });
  const infos = new InfoObjects(objects, keys);
  return { infos, strategy: new S3HeldBytes(objects, keys, infos) };
}

function journalStored(info: UploadInfo): StoredJournal {
  const { heldIn: _heldIn, ...rest } = info;
  return { version: 1, ...rest, pending: [] };
}
