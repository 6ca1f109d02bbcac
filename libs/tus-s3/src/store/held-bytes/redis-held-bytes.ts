import { Readable } from 'node:stream';
import { BeforeApplicationShutdown, Logger, OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { UploadLock } from '../../locker/locker.interface';
import { InfoObjects } from '../info-objects';
import { ObjectKeys } from '../object-keys';
import { S3Objects } from '../s3-objects';
import { SLAB_BYTES } from '../memory-budget';
import { grouped, type Spool } from '../spool';
import { isHeldBytesMissing } from '../store-errors';
import { isFinished } from '../tus-data-store';
import { completesUpload, fromStored, offsetOf, partsEnd, StoredJournal, toStored, UploadInfo } from '../upload-info';
import type { HeldBytes, HeldKey, HeldTransfer, WritePlan, WrittenBytes } from './held-bytes';
import { PartFlusher } from './part-flusher';
import { baseOf, RedisJournal, runOf } from './redis-journal';
import { RedisRuns } from './redis-runs';
import { sizeOf } from './set-from-chunks';

type RedisRun = Extract<HeldKey, { in: 'redis' }>;

/**
 * Parts uploaded in the background are written into the journal in S3 once this many have gathered (until then
 * Redis records them). Were Redis to lose them, the client would resend at most these.
 */
const JOURNAL_SAVE_EVERY_PARTS = 8;
/**
 * Held bytes go to Redis in values of at most this size: one slab, so that no value cuts a slab in two (a spool's
 * slabs are all full but the last), and each can go back to the budget whole once its value is in parts.
 */
const WRITE_SLICE = SLAB_BYTES;

export interface RedisHeldBytesConfig {
  objectPrefix: string;
  /** Prefix of every Redis key (`redis.keyPrefix`). */
  keyPrefix: string;
  minPartSize: number;
  equalParts: boolean;
}

/**
 * Held-back bytes in Redis (`holdBackIn: 'redis'`): one run of bytes per upload after its parts (see RedisRuns for
 * the layout), whose start the journal records as `heldBase`. Its policy makes small PATCHes cheap:
 * - a body below the part minimum is appended to the run whole, and answered; the PartFlusher uploads full parts
 *   from the run in the background, without the lock, and records them in Redis;
 * - a request adopts those parts under the lock, trims the bytes they cover from Redis, and writes the journal to
 *   S3 only when it uploaded parts itself, the run starts anew, or 8 adopted parts have gathered;
 * - the journal read from S3 is cached per instance while its version in Redis is unchanged (RedisJournal).
 * Part n is always the `partSize` bytes after the first n - 1 parts while a flusher may be at work, so the same part
 * number always gets the same bytes. Losing the run lowers the offset to the parts' end: the client resends.
 *
 * It owns its Redis connection (see createHeldBytesRedis) and closes it on shutdown, after the background part
 * uploads finished.
 */
export class RedisHeldBytes implements HeldBytes, BeforeApplicationShutdown, OnApplicationShutdown {
  readonly kind = 'redis' as const;
  readonly partsInBackground = true;
  private readonly logger = new Logger(RedisHeldBytes.name);
  private readonly runs: RedisRuns;
  private readonly journal: RedisJournal;
  private readonly flusher: PartFlusher;
  private readonly infos: InfoObjects;

  constructor(
    private readonly redis: Redis,
    objects: S3Objects,
    private readonly config: RedisHeldBytesConfig,
  ) {
    const keys = new ObjectKeys(config.objectPrefix);
    this.infos = new InfoObjects(objects, keys);
    this.runs = new RedisRuns(redis, config.keyPrefix);
    this.journal = new RedisJournal(this.runs);
    this.flusher = new PartFlusher(
      objects,
      keys,
      this.runs,
      async (id) => (await this.cached(id)) ?? this.load(await this.infos.read(id)),
    );
  }

  /** Lets background part uploads finish while the S3 client and Redis are still open. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.flusher.idle();
  }

  onApplicationShutdown(): void {
    this.close();
  }

  /** Closes the Redis connections (idempotent). */
  close(): void {
    this.runs.close();
    this.redis.disconnect();
  }

  /** Bytes held back in Redis by every upload of every instance (for the `tus_redis_held_bytes` gauge). */
  async heldBytesTotal(): Promise<number> {
    return this.runs.heldBytesTotal();
  }

  async cached(uploadId: string): Promise<UploadInfo | undefined> {
    return this.journal.fromCache(uploadId);
  }

  async load(stored: StoredJournal, lock?: UploadLock): Promise<UploadInfo> {
    return this.journal.fromJournal(fromStored(stored, []), lock !== undefined);
  }

  /** Writes the journal (its held bytes are in Redis, not listed there) under a new version in Redis. */
  async save(info: UploadInfo): Promise<void> {
    // Where the run starts, from the held bytes: a journal whose parts grew by adopted ones no longer says it
    // otherwise (without `heldBase` the run is taken to start where the parts end).
    const saved: UploadInfo = { ...info, heldBase: heldBaseOf(info) };
    const version = await this.journal.invalidate(info.id);
    await this.infos.write(toStored(saved, []));
    this.journal.saved(version, saved);
  }

  /**
   * A body that is not held whole cuts parts from the run, and so does the one that completes the upload: if this
   * instance's flusher is uploading one of those parts, the write waits for it and adopts it rather than upload the
   * same megabytes again. (A flusher on another instance may still race it; both then store the same bytes.)
   * Only the parts and held bytes are taken from Redis: `info` may carry what the request changed and did not save
   * yet (a length declared with this very PATCH).
   */
  async settle(info: UploadInfo, expectedBytes: number | undefined, lock: UploadLock): Promise<UploadInfo> {
    if (this.holdsWhole(info, expectedBytes)) return info;
    if (!(await this.flusher.settle(info.id))) return info;
    const now = (await this.cached(info.id)) ?? (await this.load(await this.infos.read(info.id), lock));
    if (offsetOf(now) !== offsetOf(info)) return info;
    return { ...info, parts: now.parts, pending: now.pending };
  }

  /**
   * Small bodies go to the run whole, but for the one that completes the upload: it streams into the last part, whose
   * upload then starts with the held bytes while the body arrives, instead of following a write to Redis. Every part
   * is cut at `partSize` when a flusher may be uploading it: it announces itself in Redis before it looks at the
   * upload, so a request that finds no announcement and less than a part held may cut a short part (no flush of that
   * part can be running).
   */
  async planWrite(info: UploadInfo, expectedBytes: number | undefined): Promise<WritePlan> {
    const holdWhole = this.holdsWhole(info, expectedBytes);
    if (holdWhole || this.config.equalParts || completesUpload(info, expectedBytes))
      return { holdWhole, equalParts: true };
    const run = info.pending[0];
    if (run && run.size >= info.partSize) return { holdWhole, equalParts: true };
    return { holdWhole, equalParts: await this.runs.isFlushing(info.id) };
  }

  private holdsWhole(info: UploadInfo, expectedBytes: number | undefined): boolean {
    return (
      expectedBytes !== undefined && expectedBytes < this.config.minPartSize && !completesUpload(info, expectedBytes)
    );
  }

  split(held: readonly HeldKey[], bytes: number): [HeldKey[], HeldKey[]] {
    const run = singleRun(held);
    if (bytes === 0 || !run) return [[], [...held]];
    if (bytes > run.size) throw new Error(`a run of ${run.size} held bytes cannot be split at byte ${bytes}`);
    if (bytes === run.size) return [[run], []];
    return [[{ ...run, size: bytes }], [{ ...run, size: run.size - bytes, skip: run.skip + bytes }]];
  }

  read(uploadId: string, held: readonly HeldKey[]): HeldTransfer {
    const run = singleRun(held);
    if (!run) return { open: () => Readable.from([], { objectMode: false }), end: () => undefined };
    return this.runs.read({ uploadId, base: run.base }, run.size, run.skip);
  }

  /** Grows the upload's run, or, when nothing is held (a part was cut), starts a new one at `at`: the parts' end. */
  async hold(
    info: UploadInfo,
    held: readonly HeldKey[],
    spool: Spool,
    at: number,
    lock: UploadLock,
  ): Promise<HeldKey[]> {
    const run = singleRun(held);
    const base = run?.base ?? at;
    const skip = run?.skip ?? 0;
    const ref = { uploadId: info.id, base };
    let stored = run ? skip + run.size : 0;
    // RedisRuns' cache keeps the bytes it writes: they must be ours for good, not the spool's (see detach). The
    // slabs themselves, not a copy: a fresh megabyte per PATCH, kept until its part is cut, is what made V8 run
    // major collections in a loop; slabs go back to the budget and are reused.
    const kept = spool.detach();
    for await (const group of kept ? grouped(kept.chunks, WRITE_SLICE) : spool.groups(WRITE_SLICE)) {
      lock.assertHeld();
      if (stored === 0) await this.runs.start(ref, group, kept?.free);
      else await this.runs.append(ref, stored, group, kept?.free);
      stored += sizeOf(group);
    }
    return [{ in: 'redis', base, size: stored - skip, skip }];
  }

  /**
   * When Redis lost bytes the journal counts on (evicted, or restarted without persistence), the offset falls back
   * to the parts: the client's HEAD finds the offset they reach and it resends the rest, instead of failing forever.
   * Then the journal is saved as the policy above says, and full parts held are handed to the flusher.
   */
  async commit(before: UploadInfo, written: WrittenBytes, lock: UploadLock): Promise<UploadInfo> {
    let after: UploadInfo = { ...before, parts: written.parts, pending: written.pending };
    if (written.failure && isHeldBytesMissing(written.failure)) {
      this.logger.warn(
        `held-back bytes of upload ${before.id} are missing from Redis; its offset falls back to its parts`,
      );
      lock.assertHeld();
      for (const run of runsOf(before.pending)) await this.runs.discard({ uploadId: before.id, base: run.base });
      after = { ...after, pending: [] };
    }
    after = await this.saveIfDue(before, after, lock);
    const run = after.pending[0];
    if (!isFinished(after) && run && run.size >= after.partSize) this.flusher.schedule(after.id);
    return after;
  }

  /** Nothing changes any more: the run, the journal's version and flushed-part records in Redis are done with. */
  async finished(info: UploadInfo, consumed: readonly HeldKey[] = []): Promise<void> {
    this.journal.forget(info.id);
    // An upload stored whole is finished without a commit: its run is still where its journal said before, which
    // is often where the finished journal says too (discarded once).
    const bases = new Set([...runsOf(consumed).map((run) => run.base), runOf(info).base]);
    for (const base of bases) await this.runs.discard({ uploadId: info.id, base }).catch(() => undefined);
    await this.runs.forgetUpload(info.id).catch(() => undefined);
  }

  async drop(info: UploadInfo): Promise<void> {
    for (const run of runsOf(info.pending)) await this.runs.discard({ uploadId: info.id, base: run.base });
    await this.finished(info);
  }

  /**
   * The journal in S3 must change when this request uploaded parts itself (nothing else records them) or the run
   * moved; parts the PartFlusher uploaded are recorded in Redis and adopted from there, so they are written to S3
   * only once several have gathered. Segments that parts now cover are dropped from Redis either way: it holds about
   * what is not in parts yet.
   */
  private async saveIfDue(before: UploadInfo, after: UploadInfo, lock: UploadLock): Promise<UploadInfo> {
    const run = singleRun(after.pending);
    const heldBase = heldBaseOf(after);
    const updated: UploadInfo = { ...after, heldBase };
    if (run && this.journal.shouldTrim(after.id, run.base, run.skip, after.partSize)) {
      lock.assertHeld();
      await this.runs.trim({ uploadId: after.id, base: run.base }, run.skip);
      this.journal.trimmed(after.id, run.base, run.skip);
    }
    const persisted = this.journal.persisted(after.id);
    const mustSave =
      persisted === undefined ||
      after.parts.length > before.parts.length ||
      baseOf(persisted) !== heldBase ||
      updated.parts.length - persisted.parts.length >= JOURNAL_SAVE_EVERY_PARTS;
    if (!mustSave) return updated;
    const previous = persisted ?? before;
    lock.assertHeld();
    // The journal is about to name a new run that this write holds nothing in. A run already under that key is a
    // dead writer's, whose journal never landed (it cut the same parts, then held bytes after them): once named, it
    // would count. A run this write starts itself replaces whatever was there (RedisRuns.start).
    if (!run && baseOf(previous) !== heldBase) await this.runs.discard({ uploadId: after.id, base: heldBase });
    await this.save(updated);
    if (baseOf(previous) !== heldBase) await this.runs.discard(runOf(previous)).catch(() => undefined);
    const adopted = updated.parts.slice(previous.parts.length).map((p) => p.partNumber);
    await this.runs.forgetFlushed(after.id, adopted).catch(() => undefined);
    return updated;
  }
}

function runsOf(held: readonly HeldKey[]): RedisRun[] {
  return held.map((key) => {
    if (key.in !== 'redis') throw new Error(`held bytes in ${key.in} listed with a run in Redis`);
    return key;
  });
}

/** Where the upload's run starts: the held run's own start, or where the parts end when nothing is held. */
function heldBaseOf(info: UploadInfo): number {
  const run = singleRun(info.pending);
  const end = partsEnd(info);
  return run ? end - run.skip : end;
}

/** The one run an upload held in Redis has after its parts, if any. */
function singleRun(held: readonly HeldKey[]): RedisRun | undefined {
  const runs = runsOf(held);
  if (runs.length > 1) throw new Error('an upload holds one run of bytes in Redis, not several');
  return runs[0];
}
