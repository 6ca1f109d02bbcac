import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { UploadLock } from '../../locker/locker.interface';
import { InfoObjects } from '../info-objects';
import { ObjectKeys } from '../object-keys';
import { S3Objects } from '../s3-objects';
import type { Spool } from '../spool';
import { fromStored, StoredChunk, StoredJournal, toStored, UploadInfo } from '../upload-info';
import type { HeldBytes, HeldKey, WritePlan, WrittenBytes } from './held-bytes';
import { SegmentCache } from './segment-cache';

type S3Chunk = Extract<HeldKey, { in: 's3' }>;

/** How many chunk objects are requested ahead of the one being streamed into a part. */
const CHUNK_PREFETCH = 4;
/** What this instance keeps of the chunk objects it wrote, by default (see the constructor). */
const DEFAULT_CHUNK_CACHE_BYTES = 16 * 1024 * 1024;

/**
 * Held-back bytes as chunk objects in S3 (`holdBackIn: 's3'`, the default): each write that leaves bytes below a
 * part stores them as one more object `<prefix><id>.chunk.<offset>.<nonce>`, listed in the journal; the next part
 * starts with them, streamed from S3, and they are deleted once the journal no longer lists them. Durable wherever
 * S3 is; the journal is saved after every write that stored bytes.
 *
 * Chunk objects never change (each key has a nonce), so the bytes of those this instance wrote are kept in memory
 * for a while (what the spool hands over with `detach`, up to 16 MiB by default): the request that cuts the next
 * part usually finds them there instead of reading them back from S3. Another instance reads them from S3.
 */
export class S3HeldBytes implements HeldBytes {
  readonly kind = 's3' as const;

  constructor(
    private readonly objects: S3Objects,
    private readonly keys: ObjectKeys,
    private readonly infos: InfoObjects,
    private readonly cache = new SegmentCache(DEFAULT_CHUNK_CACHE_BYTES),
  ) {}

  async cached(): Promise<undefined> {
    return undefined;
  }

  async load(stored: StoredJournal): Promise<UploadInfo> {
    return fromStored(
      stored,
      stored.pending.map((chunk): HeldKey => ({ in: 's3', key: chunk.key, size: chunk.size })),
    );
  }

  /** @param lock the upload's lock, when held: the journal is then remembered with it (see InfoObjects) */
  async save(info: UploadInfo, lock?: UploadLock): Promise<void> {
    await this.infos.write(
      toStored(
        info,
        chunksOf(info.pending).map(({ key, size }): StoredChunk => ({ key, size })),
      ),
      lock,
    );
  }

  async planWrite(): Promise<WritePlan> {
    return { holdWhole: false, equalParts: false };
  }

  split(held: readonly HeldKey[], bytes: number): [HeldKey[], HeldKey[]] {
    let position = 0;
    let count = 0;
    while (count < held.length && position < bytes) position += held[count++].size;
    if (position !== bytes) throw new Error(`held-back chunk objects cannot be split at byte ${bytes}`);
    return [held.slice(0, count), held.slice(count)];
  }

  read(_uploadId: string, held: readonly HeldKey[], signal: AbortSignal): Readable {
    const chunks = chunksOf(held);
    const cache = this.cache;
    const open = async (chunk: S3Chunk): Promise<Iterable<Buffer> | Readable> =>
      cache.read(chunk.key, 0, chunk.size) ?? this.objects.getStream(chunk.key, signal);
    async function* bytes(): AsyncGenerator<Buffer> {
      // Held-back chunks are many small objects: ask for the next few while the current one streams.
      const opening: Array<Promise<Iterable<Buffer> | Readable>> = [];
      const prefetch = (index: number) => {
        if (index >= chunks.length) return;
        const request = open(chunks[index]);
        request.catch(() => undefined); // awaited in order below; this only keeps an early failure from going unhandled
        opening.push(request);
      };
      for (let i = 0; i < CHUNK_PREFETCH; i++) prefetch(i);
      try {
        for (let i = 0; i < chunks.length; i++) {
          const body = await opening[i];
          prefetch(i + CHUNK_PREFETCH);
          yield* body;
        }
      } finally {
        // Abandoned part-way (the upload failed): close the responses we opened but did not read.
        for (const request of opening)
          void request.then(
            (body) => (body instanceof Readable ? body.destroy() : undefined),
            () => undefined,
          );
      }
    }
    return Readable.from(bytes(), { objectMode: false });
  }

  /** One more chunk object; its key names the offset where it starts and a nonce, so no writer overwrites one. */
  async hold(
    info: UploadInfo,
    held: readonly HeldKey[],
    spool: Spool,
    at: number,
    lock: UploadLock,
  ): Promise<HeldKey[]> {
    const key = this.keys.pendingChunk(info.id, at, randomBytes(4).toString('hex'));
    // Detached before anything can fail: bytes the cache may keep after the spool is disposed.
    const kept = spool.detach();
    await this.objects.putStream(key, () => spool.read(), spool.size, lock.lost);
    if (kept) this.cache.wroteChunks(key, 0, kept);
    return [...held, { in: 's3', key, size: spool.size }];
  }

  /** Saves the journal when the write changed it, then deletes the chunk objects that are in parts now. */
  async commit(before: UploadInfo, written: WrittenBytes, lock: UploadLock): Promise<UploadInfo> {
    const after: UploadInfo = { ...before, parts: written.parts, pending: written.pending };
    if (written.bytesReceived === 0 && written.consumed.length === 0) return after;
    lock.assertHeld();
    await this.save(after, lock);
    await this.deleteChunks(written.consumed);
    return after;
  }

  async finished(): Promise<void> {}

  async drop(info: UploadInfo): Promise<void> {
    await this.deleteChunks(info.pending);
  }

  private async deleteChunks(held: readonly HeldKey[]): Promise<void> {
    const keys = chunksOf(held).map((chunk) => chunk.key);
    for (const key of keys) this.cache.forget(key);
    await this.objects.deleteMany(keys);
  }
}

function chunksOf(held: readonly HeldKey[]): S3Chunk[] {
  return held.map((key) => {
    if (key.in !== 's3') throw new Error(`held bytes in ${key.in} listed with chunk objects in S3`);
    return key;
  });
}
