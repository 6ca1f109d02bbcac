import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Logger } from '@nestjs/common';
import { LockInterruptedError, type UploadLock } from '../../locker/locker.interface';
import { InfoObjects } from '../info-objects';
import { ObjectKeys } from '../object-keys';
import { S3Objects } from '../s3-objects';
import type { Spool } from '../spool';
import { HeldBytesMissingError, isHeldBytesMissing, isS3NotFound, StorageError } from '../store-errors';
import { fromStored, StoredChunk, StoredJournal, toStored, UploadInfo } from '../upload-info';
import { ONE_ATTEMPT } from '../stream-retries';
import type { EarlyHold, HeldBytes, HeldKey, HeldTransfer, WritePlan, WrittenBytes } from './held-bytes';
import { SegmentCache } from './segment-cache';

type S3Chunk = Extract<HeldKey, { in: 's3' }>;

/** A chunk object whose PUT started while its bytes arrived (see `holdEarly`). */
interface EarlyChunk extends EarlyHold {
  readonly key: string;
  readonly put: Promise<void>;
}

/** How many chunk objects are requested ahead of the one being streamed into a part. */
const CHUNK_PREFETCH = 4;
/** What this instance keeps of the chunk objects it wrote, by default (see the constructor). */
const DEFAULT_CHUNK_CACHE_BYTES = 16 * 1024 * 1024;

/**
 * Held-back bytes as chunk objects in S3 (`holdBackIn: 's3'`, the default): each write that leaves bytes below a
 * part stores them as one more object `<prefix><id>.chunk.<offset>.<nonce>`, listed in the journal; the next part
 * starts with them, streamed from S3, and they are deleted once the journal no longer lists them. Durable wherever
 * S3 is.
 *
 * A write's chunk object and the journal that lists it go up at the same time (one round trip per PATCH instead of
 * two): the journal marks the chunk `unconfirmed`, and the write is acknowledged only once both landed. Should the
 * chunk's PUT fail, the journal is written again without it; should the process die in between, whoever next reads
 * the journal from S3 finds the chunk missing and drops it (`load`): those bytes were never acknowledged, and the
 * client sends them again from the offset HEAD reports. The next save lists the chunk as any other.
 *
 * Chunk objects never change (each key has a nonce), so the bytes of those this instance wrote are kept in memory
 * for a while (what the spool hands over with `detach`, up to 16 MiB by default): the request that cuts the next
 * part usually finds them there instead of reading them back from S3. Another instance reads them from S3.
 */
export class S3HeldBytes implements HeldBytes {
  readonly kind = 's3' as const;
  readonly partsInBackground = false;
  private readonly logger = new Logger(S3HeldBytes.name);
  /** The PUTs of chunk objects that `hold` started and the `commit` of their write has not awaited yet. */
  private readonly landing = new WeakMap<HeldKey, Promise<void>>();
  /** Deletions of chunk objects whose bytes are in parts now, still under way (see `commit`). */
  private readonly deleting = new Set<Promise<void>>();

  constructor(
    private readonly objects: S3Objects,
    private readonly keys: ObjectKeys,
    private readonly infos: InfoObjects,
    private readonly cache = new SegmentCache(DEFAULT_CHUNK_CACHE_BYTES),
  ) {}

  async cached(): Promise<undefined> {
    return undefined;
  }

  /**
   * Checks the chunks the journal lists as unconfirmed, and drops one that is missing with everything after it.
   * Under the lock, a journal that lost chunks so is saved without them at once: their PUTs may still land (a writer
   * paused after its journal went out and before its chunk did), and whoever reads the journal next must not count
   * bytes this reader reported missing.
   */
  async load(stored: StoredJournal, lock?: UploadLock): Promise<UploadInfo> {
    const unchecked = stored.pending.some((chunk) => chunk.unconfirmed);
    const listed = unchecked ? await this.existing(stored.pending) : stored.pending;
    const info = fromStored(
      stored,
      listed.map((chunk): HeldKey => ({ in: 's3', key: chunk.key, size: chunk.size })),
    );
    if (!unchecked || !lock) return info;
    if (listed.length < stored.pending.length) {
      lock.assertHeld();
      await this.save(info, lock);
    } else {
      // The next read of this journal under the lock (the next PATCH) need not check again.
      this.infos.confirmed(asStored(info), lock);
    }
    return info;
  }

  /** @param lock the upload's lock, when held: the journal is then remembered with it (see InfoObjects) */
  async save(info: UploadInfo, lock?: UploadLock): Promise<void> {
    await this.infos.write(asStored(info), lock);
  }

  /** Nothing works on chunk objects in the background. */
  async settle(info: UploadInfo): Promise<UploadInfo> {
    return info;
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

  read(_uploadId: string, held: readonly HeldKey[], signal: AbortSignal): HeldTransfer {
    const chunks = chunksOf(held);
    const cache = this.cache.lease();
    const open = async (chunk: S3Chunk): Promise<Iterable<Buffer> | Readable> =>
      cache.read(chunk.key, 0, chunk.size) ??
      this.objects.getStream(chunk.key, signal).catch((error: unknown) => {
        throw isS3NotFound(error) ? new HeldBytesMissingError('S3') : error;
      });
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
    return { open: () => Readable.from(bytes(), { objectMode: false }), end: (sent) => cache.end(sent) };
  }

  /**
   * The chunk object of a body that will be held, PUT while its bytes arrive (one attempt; `hold` sends it again
   * should that fail), so that the PATCH is answered about when its last byte is in rather than one PUT later.
   */
  holdEarly(
    info: UploadInfo,
    spool: Spool,
    at: number,
    size: number,
    lock: UploadLock,
    cancel: AbortSignal,
  ): EarlyChunk {
    const key = this.keys.pendingChunk(info.id, at, randomBytes(4).toString('hex'));
    const signal = AbortSignal.any([lock.lost, cancel]);
    const put = this.objects.putStream(key, () => spool.follow(size), size, signal, ONE_ATTEMPT);
    return { key, size, put, over: put.catch(() => undefined) };
  }

  /** One more chunk object; its key names the offset where it starts and a nonce, so no writer overwrites one. */
  async hold(
    info: UploadInfo,
    held: readonly HeldKey[],
    spool: Spool,
    at: number,
    lock: UploadLock,
    early?: EarlyHold,
  ): Promise<HeldKey[]> {
    const started = early as EarlyChunk | undefined;
    const key = started?.key ?? this.keys.pendingChunk(info.id, at, randomBytes(4).toString('hex'));
    const chunk: S3Chunk = { in: 's3', key, size: spool.size };
    // Detached before anything can fail: bytes that outlive the spool, which is disposed once this returns. Its slabs
    // come along rather than a copy of them: each is one chunk here, and goes back to the budget once forgotten. (An
    // early PUT still reading them reads on: they are cached, and may be freed, only once it is over.)
    const kept = spool.detach();
    if (!kept) {
      // On disk: read from the spool's file, so up before the spool goes. (Never after an early PUT, which only
      // follows bytes in memory: should one have run, it is over first.)
      await started?.over;
      await this.objects.putStream(key, () => spool.read(), spool.size, lock.lost);
      return [...held, chunk];
    }
    // A PUT that needed a second attempt may have the first one's socket still sending them: not ours alone then.
    let attempts = started ? 1 : 0;
    const body = () => (attempts++, Readable.from(kept.chunks, { objectMode: false }));
    const put = () => this.objects.putStream(key, body, chunk.size, lock.lost);
    const landing = (started ? started.put.catch(put) : put()).then(() =>
      this.cache.wroteChunks(key, 0, kept.chunks, attempts === 1 ? kept.free : undefined),
    );
    // Awaited by `commit`. Without one (the write failed later), the object is left behind as when it went up first.
    landing.catch(() => undefined);
    this.landing.set(chunk, landing);
    return [...held, chunk];
  }

  /**
   * Saves the journal when the write changed it, then deletes the chunk objects that are in parts now, in the
   * background: the journal no longer lists them, so nothing reads them again, and the write need not wait for the
   * deletion (a DeleteObjects took a fifth of the time of a 1 MiB PATCH that cut a part). See `idle`.
   */
  async commit(before: UploadInfo, written: WrittenBytes, lock: UploadLock): Promise<UploadInfo> {
    const after: UploadInfo = { ...before, parts: written.parts, pending: written.pending };
    if (written.failure && isHeldBytesMissing(written.failure)) return this.fallBackToParts(after, written, lock);
    if (written.bytesReceived === 0 && written.consumed.length === 0) return after;
    lock.assertHeld();
    const landing = new Map<HeldKey, Promise<void>>();
    for (const chunk of after.pending) {
      const put = this.landing.get(chunk);
      if (put) landing.set(chunk, put);
      this.landing.delete(chunk);
    }
    if (landing.size > 0) await this.saveWhileLanding(after, landing, lock);
    else await this.save(after, lock);
    this.deleteInBackground(written.consumed);
    return after;
  }

  /** Resolves once every deletion `commit` started so far is over (done, or failed and logged). */
  async idle(): Promise<void> {
    await Promise.all([...this.deleting]);
  }

  /**
   * One that fails leaves the objects behind, listed by no journal: the sweeper deletes such chunk objects once they
   * are older than `expireAfter` (see ExpirySweeper), as it does those of a PUT that landed after its write failed.
   */
  private deleteInBackground(held: readonly HeldKey[]): void {
    if (held.length === 0) return;
    const deletion: Promise<void> = this.deleteChunks(held)
      .catch((error: unknown) =>
        this.logger.warn(
          `could not delete ${held.length} held-back chunk object(s) whose bytes are in parts now: ${(error as Error).message}`,
        ),
      )
      .finally(() => this.deleting.delete(deletion));
    this.deleting.add(deletion);
  }

  /**
   * Writes the journal while the chunk objects it lists for the first time are still going up (see the class).
   * @throws StorageError when a chunk did not land: the journal is then saved again without it
   */
  private async saveWhileLanding(
    after: UploadInfo,
    landing: ReadonlyMap<HeldKey, Promise<void>>,
    lock: UploadLock,
  ): Promise<void> {
    const landed = Promise.all(landing.values());
    const [saved, put] = await Promise.allSettled([this.infos.write(asStored(after, landing), lock), landed]);
    if (put.status === 'rejected') {
      if (saved.status === 'fulfilled') {
        lock.assertHeld();
        await this.save({ ...after, pending: after.pending.filter((chunk) => !landing.has(chunk)) }, lock);
      }
      throw put.reason instanceof StorageError || put.reason instanceof LockInterruptedError
        ? put.reason
        : new StorageError('could not store the held-back bytes', put.reason);
    }
    if (saved.status === 'rejected') throw saved.reason;
    // Whoever took the lock since may have read this journal before the chunk landed, and dropped it.
    lock.assertHeld();
    this.infos.confirmed(asStored(after), lock);
  }

  /**
   * A chunk the journal lists is not in S3 (something else deleted it, or an instance of an earlier version listed
   * one whose PUT never landed without the `unconfirmed` mark): the offset falls back to the parts, as when Redis
   * loses held bytes, and the client resends the rest instead of failing on that chunk forever.
   */
  private async fallBackToParts(after: UploadInfo, written: WrittenBytes, lock: UploadLock): Promise<UploadInfo> {
    this.logger.warn(`held-back chunks of upload ${after.id} are missing from S3; its offset falls back to its parts`);
    lock.assertHeld();
    const fallback: UploadInfo = { ...after, pending: [] };
    await this.save(fallback, lock);
    await this.deleteChunks([...after.pending, ...written.consumed]);
    return fallback;
  }

  /** Chunk objects now in the final object go in the background, as after a commit (see `idle`). */
  async finished(_info: UploadInfo, consumed: readonly HeldKey[] = []): Promise<void> {
    this.deleteInBackground(consumed);
  }

  async drop(info: UploadInfo): Promise<void> {
    await this.deleteChunks(info.pending);
  }

  private async deleteChunks(held: readonly HeldKey[]): Promise<void> {
    const keys = chunksOf(held).map((chunk) => chunk.key);
    for (const key of keys) this.cache.forget(key);
    await this.objects.deleteMany(keys);
  }

  /** The chunks listed up to the first unconfirmed one that is not in S3 (see the class). */
  private async existing(listed: readonly StoredChunk[]): Promise<StoredChunk[]> {
    for (let i = 0; i < listed.length; i++)
      if (listed[i].unconfirmed && !(await this.objects.exists(listed[i].key))) return listed.slice(0, i);
    return [...listed];
  }
}

/** The journal as `.info` holds it: every chunk confirmed, but those in `unconfirmed` (see the class). */
function asStored(info: UploadInfo, unconfirmed: ReadonlyMap<HeldKey, unknown> = new Map()): StoredJournal {
  return toStored(
    info,
    chunksOf(info.pending).map((chunk): StoredChunk => ({
      key: chunk.key,
      size: chunk.size,
      ...(unconfirmed.has(chunk) && { unconfirmed: true }),
    })),
  );
}

function chunksOf(held: readonly HeldKey[]): S3Chunk[] {
  return held.map((key) => {
    if (key.in !== 's3') throw new Error(`held bytes in ${key.in} listed with chunk objects in S3`);
    return key;
  });
}
