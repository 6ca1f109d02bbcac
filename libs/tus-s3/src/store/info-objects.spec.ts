import type { UploadLock } from '../locker/locker.interface';
import { MemoryLocker } from '../locker/memory-locker';
import { InfoObjects } from './info-objects';
import { ObjectKeys } from './object-keys';
import type { S3Objects } from './s3-objects';
import { UploadNotFoundError } from './store-errors';
import type { StoredJournal } from './upload-info';

/** An S3 of text objects that counts its GETs. */
class FakeObjects {
  readonly bodies = new Map<string, string>();
  gets = 0;
  failPuts = false;

  async getText(key: string): Promise<string> {
    this.gets++;
    const body = this.bodies.get(key);
    if (body === undefined) throw Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey' });
    return body;
  }

  async putJson(key: string, body: string): Promise<void> {
    if (this.failPuts) throw new Error('SlowDown');
    this.bodies.set(key, body);
  }

  async delete(key: string): Promise<void> {
    this.bodies.delete(key);
  }
}

const id = 'a'.repeat(32);

function journal(changes: Partial<StoredJournal> = {}): StoredJournal {
  return {
    version: 1,
    id,
    size: 100,
    partSize: 8,
    multipartUploadId: 'mpu',
    parts: [],
    pending: [],
    metadata: {},
    createdAt: '2026-11-26T00:00:00.000Z',
    finishedAt: null,
    ...changes,
  } as unknown as StoredJournal;
}

describe('InfoObjects', () => {
  let objects: FakeObjects;
  let infos: InfoObjects;
  let locker: MemoryLocker;
  let lock: UploadLock;

  beforeEach(async () => {
    objects = new FakeObjects();
    infos = new InfoObjects(objects as unknown as S3Objects, new ObjectKeys(''));
    locker = new MemoryLocker({ waitMs: 1000 });
    lock = await locker.lock(id);
  });

  it('reads a journal it wrote or read from memory while that very lock is held, from S3 otherwise', async () => {
    await infos.write(journal({ parts: [{ partNumber: 1, size: 8, etag: '"e"' }] }), lock);
    expect((await infos.read(id, lock)).parts).toHaveLength(1);
    expect(objects.gets).toBe(0);
    await lock.release();
    const next = await locker.lock(id);
    await infos.read(id, next); // another lock: someone may have written in between
    expect(objects.gets).toBe(1);
    await infos.read(id, next); // remembered with this one now
    expect(objects.gets).toBe(1);
    await next.release();
    await infos.read(id, next); // released: no longer held
    expect(objects.gets).toBe(2);
    await infos.read(id); // no lock: S3
    expect(objects.gets).toBe(3);
  });

  it('hands out a copy: what a caller does with it does not change what is remembered', async () => {
    await infos.write(journal(), lock);
    const first = (await infos.read(id, lock)) as { size: number };
    first.size = 1;
    expect((await infos.read(id, lock)).size).toBe(100);
  });

  it('forgets on a failed write, a write without the lock, and a delete', async () => {
    await infos.write(journal(), lock);
    objects.failPuts = true;
    await expect(infos.write(journal({ size: 200 }), lock)).rejects.toThrow('SlowDown');
    await infos.read(id, lock);
    expect(objects.gets).toBe(1);

    objects.failPuts = false;
    await infos.write(journal({ size: 300 }));
    expect((await infos.read(id, lock)).size).toBe(300);
    expect(objects.gets).toBe(2);

    await infos.delete(id);
    await expect(infos.read(id, lock)).rejects.toBeInstanceOf(UploadNotFoundError);
  });

  it('remembers a finished journal written under the lock (its delivery record reads it), as any other', async () => {
    const finishedAt = '2026-11-26T00:00:01.000Z';
    await infos.write(journal({ finishedAt }), lock);
    expect((await infos.read(id, lock)).finishedAt).toBe(finishedAt);
    expect(objects.gets).toBe(0);
  });

  it('never remembers the unfinished journal of an upload held in Redis (RedisJournal caches those)', async () => {
    await infos.write(journal({ heldIn: 'redis' }), lock);
    await infos.read(id, lock);
    await infos.read(id, lock);
    expect(objects.gets).toBe(2);
  });

  it('remembers the finished journal of an upload held in Redis (nothing else caches it)', async () => {
    const finishedAt = '2026-11-26T00:00:01.000Z';
    infos.confirmed(journal({ heldIn: 'redis', finishedAt }), lock);
    expect((await infos.read(id, lock)).finishedAt).toBe(finishedAt);
    await infos.write(journal({ heldIn: 'redis', finishedAt, size: 300 }), lock);
    expect((await infos.read(id, lock)).size).toBe(300);
    expect(objects.gets).toBe(0);
  });
});
