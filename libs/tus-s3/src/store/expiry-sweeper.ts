import {
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  AbortMultipartUploadCommand,
} from '@aws-sdk/client-s3';
import { Logger } from '@nestjs/common';
import type { Locker } from '../locker/locker.interface';
import { tryLockOn } from '../locker/try-lock';
import { isValidUploadId } from '../protocol/upload-id';
import type { Clock } from '../tus-s3.constants';
import { InfoObjects } from './info-objects';
import { ObjectKeys } from './object-keys';
import { S3Objects } from './s3-objects';
import { isS3NotFound, UploadNotFoundError } from './store-errors';
import type { SweepCursor, SweepState } from './sweep-state';
import type { TusDataStore } from './tus-data-store';
import type { StoredJournal } from './upload-info';

export interface ExpirySweeperConfig {
  client: S3Client;
  bucket: string;
  objectPrefix: string;
  /** Uploads, multipart uploads and chunk objects younger than this are never touched. */
  expireAfterMs: number;
  maxCallsPerMinute: number;
  /** The store that terminates expired uploads (under their lock). */
  store: TusDataStore;
  locker: Locker;
  clock: Clock;
  state: SweepState;
  /** Who holds the lease (this instance). */
  owner: string;
  /** How long the lease lasts without renewal (renewed every third of it). Default 30 s. */
  leaseTtlMs?: number;
  /** Entries per listing page. Default 1000 (S3's maximum). */
  pageSize?: number;
}

/** What one sweep did. */
export interface SweepReport {
  /** false: another sweep held the lease, nothing was done. */
  ran: boolean;
  /** The pass over the bucket reached its end (the next sweep starts from the beginning). */
  complete: boolean;
  /** Expired uploads terminated. */
  terminated: string[];
  /** Keys of multipart uploads aborted that no journal claimed (crashes during creation or termination). */
  abortedOrphans: string[];
  /** Chunk objects deleted that no journal listed. */
  deletedChunks: string[];
  /** Expired uploads skipped because a request held their lock (the next pass retries them). */
  skippedBusy: string[];
  /** S3 calls made (about: a termination counts as 3). */
  calls: number;
  /** Entries that failed (logged); the pass goes on. */
  failures: number;
}

const CHUNK_KEY = /^(.+)\.chunk\.\d+\.[0-9a-f]+$/;
const INFO_KEY = /^(.+)\.info$/;
/** Final objects remembered while listing, to tell an `.info` that has one next to it (see `chunkPage`). */
const REMEMBERED_FINALS = 10_000;

/**
 * Reclaims expired uploads from S3, a page at a time. A pass lists the open multipart uploads under `objectPrefix`
 * (every unfinished upload of size > 0 that is larger than a part has one, `Initiated` ≈ its creation), and for those
 * older than `expireAfterMs` reads the journal: none, or one naming another UploadId, means an orphan of a crash
 * (aborted); an unfinished journal whose `expiresAt` passed is terminated through the store, under the upload's lock
 * (skipped when busy), which removes the multipart upload, the held-back bytes (chunks or the Redis run) and the
 * `.info`. Then it lists the objects: `<id>.chunk.*` keys older than the expiry that no journal lists are deleted,
 * and an `<id>.info` older than the expiry with no final object `<id>` listed before it (an upload stored whole has
 * no multipart upload to be found by) has its journal read, and is terminated as above if unfinished and expired.
 *
 * One sweep at a time across instances (a lease, renewed while it runs; a sweep that loses it stops), the cursor kept
 * in the {@link SweepState} after every page so the next sweep on any instance continues, and at most
 * `maxCallsPerMinute` S3 calls a minute.
 */
export class ExpirySweeper {
  private readonly logger = new Logger('TusS3Sweeper');
  private readonly objects: S3Objects;
  private readonly infos: InfoObjects;
  private readonly leaseTtlMs: number;
  private readonly pageSize: number;

  constructor(private readonly config: ExpirySweeperConfig) {
    this.objects = new S3Objects(config.client, config.bucket);
    this.infos = new InfoObjects(this.objects, new ObjectKeys(config.objectPrefix));
    this.leaseTtlMs = config.leaseTtlMs ?? 30_000;
    this.pageSize = config.pageSize ?? 1000;
  }

  /**
   * One sweep: goes on from the saved cursor until the pass is complete, `maxDurationMs` has passed, `signal` aborts
   * or the lease is lost; saves where it stopped.
   */
  async sweep(maxDurationMs = Infinity, signal?: AbortSignal): Promise<SweepReport> {
    const report: SweepReport = {
      ran: false,
      complete: false,
      terminated: [],
      abortedOrphans: [],
      deletedChunks: [],
      skippedBusy: [],
      calls: 0,
      failures: 0,
    };
    const { state, owner } = this.config;
    if (!(await state.acquire(owner, this.leaseTtlMs))) return report;
    report.ran = true;
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal?.addEventListener('abort', onAbort);
    const renewal = setInterval(
      () => {
        state.renew(owner, this.leaseTtlMs).then(
          (held) => held || stop.abort(),
          () => stop.abort(),
        );
      },
      Math.max(100, Math.floor(this.leaseTtlMs / 3)),
    );
    renewal.unref();
    try {
      const run = new SweepRun(
        this,
        report,
        new CallBudget(this.config.maxCallsPerMinute, stop.signal),
        Date.now() + maxDurationMs,
        stop.signal,
      );
      await run.go((await state.cursor()) ?? { phase: 'multipart' });
    } finally {
      clearInterval(renewal);
      signal?.removeEventListener('abort', onAbort);
      await state.release(owner).catch(() => undefined);
    }
    return report;
  }

  /** @internal */
  get internals() {
    return { config: this.config, infos: this.infos, pageSize: this.pageSize, logger: this.logger };
  }
}

/** One sweep's walk over the listings. */
class SweepRun {
  private readonly now: number;
  private readonly cutoff: number;
  /** Final objects listed lately: an upload's final object `<id>` sorts before its `<id>.info`. */
  private readonly finals = new Set<string>();

  constructor(
    private readonly sweeper: ExpirySweeper,
    private readonly report: SweepReport,
    private readonly budget: CallBudget,
    private readonly deadline: number,
    private readonly stopped: AbortSignal,
  ) {
    const { config } = sweeper.internals;
    this.now = config.clock.now().getTime();
    this.cutoff = this.now - config.expireAfterMs;
  }

  private get config() {
    return this.sweeper.internals.config;
  }

  private shouldStop(): boolean {
    return this.stopped.aborted || Date.now() >= this.deadline;
  }

  async go(start: SweepCursor): Promise<void> {
    let cursor: SweepCursor | undefined = start;
    while (cursor && !this.shouldStop()) {
      cursor = cursor.phase === 'multipart' ? await this.multipartPage(cursor) : await this.chunkPage(cursor);
      // Not saved once the lease is lost: the cursor is the new holder's now.
      if (!this.stopped.aborted) await this.config.state.saveCursor(cursor);
    }
    this.report.complete = cursor === undefined;
  }

  private async multipartPage(cursor: Extract<SweepCursor, { phase: 'multipart' }>): Promise<SweepCursor> {
    await this.take(1);
    const page = await this.config.client.send(
      new ListMultipartUploadsCommand({
        Bucket: this.config.bucket,
        Prefix: this.config.objectPrefix || undefined,
        KeyMarker: cursor.keyMarker,
        UploadIdMarker: cursor.keyMarker ? cursor.uploadIdMarker : undefined,
        MaxUploads: this.sweeper.internals.pageSize,
      }),
    );
    let last = cursor;
    for (const upload of page.Uploads ?? []) {
      // Resumes after the last upload handled (KeyMarker + UploadIdMarker list what comes after that one).
      if (this.shouldStop()) return last;
      if (!upload.Key || !upload.UploadId) continue;
      await this.guarded(upload.Key, () => this.multipartUpload(upload.Key!, upload.UploadId!, upload.Initiated));
      last = { phase: 'multipart', keyMarker: upload.Key, uploadIdMarker: upload.UploadId };
    }
    if (page.IsTruncated && page.NextKeyMarker) {
      return { phase: 'multipart', keyMarker: page.NextKeyMarker, uploadIdMarker: page.NextUploadIdMarker };
    }
    return { phase: 'chunks' };
  }

  private async multipartUpload(key: string, uploadId: string, initiated: Date | undefined): Promise<void> {
    const id = this.idOf(key);
    if (id === undefined || !initiated || initiated.getTime() > this.cutoff) return;
    const journal = await this.journal(id);
    if (journal === 'unreadable') return;
    if (journal === undefined || journal.multipartUploadId !== uploadId) {
      // Older than any upload may live and claimed by no journal: left by a crash during creation or termination, or
      // while an upload stored whole got its parts after all (see S3Store.partsUnlessCompleting).
      await this.take(1);
      await this.config.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.config.bucket, Key: key, UploadId: uploadId }))
        .catch((error) => {
          if (!isS3NotFound(error)) throw error;
        });
      this.report.abortedOrphans.push(key);
      return;
    }
    if (journal.finishedAt === null && isPast(journal.expiresAt, this.now)) await this.terminate(id);
  }

  private async terminate(id: string): Promise<void> {
    const lock = await tryLockOn(this.config.locker, id);
    if (!lock) {
      this.report.skippedBusy.push(id);
      return;
    }
    try {
      await this.take(1);
      const upload = await this.config.store.get(id, lock);
      // Looked at again under the lock: it may have finished meanwhile.
      if (upload.expiresAt === null || !isPast(upload.expiresAt, this.now)) return;
      await this.take(3);
      await this.config.store.terminate(upload, lock);
      this.report.terminated.push(id);
    } catch (error) {
      if (!(error instanceof UploadNotFoundError)) throw error;
    } finally {
      await lock.release();
    }
  }

  private async chunkPage(cursor: Extract<SweepCursor, { phase: 'chunks' }>): Promise<SweepCursor | undefined> {
    await this.take(1);
    const page = await this.config.client.send(
      new ListObjectsV2Command({
        Bucket: this.config.bucket,
        Prefix: this.config.objectPrefix || undefined,
        StartAfter: cursor.startAfter,
        MaxKeys: this.sweeper.internals.pageSize,
      }),
    );
    // Read once per page for all of an upload's keys.
    const journals = new Map<string, Promise<StoredJournal | undefined | 'unreadable'>>();
    const journalOf = (id: string) => {
      if (!journals.has(id)) journals.set(id, this.journal(id));
      return journals.get(id)!;
    };
    let last = cursor.startAfter;
    for (const object of page.Contents ?? []) {
      if (this.shouldStop()) return { phase: 'chunks', startAfter: last };
      const key = object.Key;
      if (!key) continue;
      last = key;
      if (this.idOf(key) !== undefined) this.rememberFinal(key);
      const old = object.LastModified !== undefined && object.LastModified.getTime() <= this.cutoff;
      const unfinished = this.idOf(key, INFO_KEY);
      if (unfinished !== undefined && old && !this.finals.has(this.config.objectPrefix + unfinished)) {
        await this.guarded(key, async () => {
          const journal = await journalOf(unfinished);
          if (journal && journal !== 'unreadable' && journal.finishedAt === null && isPast(journal.expiresAt, this.now))
            await this.terminate(unfinished);
        });
        continue;
      }
      const id = this.idOf(key, CHUNK_KEY);
      if (id === undefined || !old) continue;
      await this.guarded(key, async () => {
        const journal = await journalOf(id);
        if (journal === 'unreadable' || journal?.pending.some((chunk) => chunk.key === key)) return;
        await this.take(1);
        await this.config.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: key }));
        this.report.deletedChunks.push(key);
      });
    }
    return page.IsTruncated && last !== undefined ? { phase: 'chunks', startAfter: last } : undefined;
  }

  private rememberFinal(key: string): void {
    this.finals.add(key);
    if (this.finals.size > REMEMBERED_FINALS) this.finals.delete(this.finals.values().next().value!);
  }

  /** The upload id of a key under the prefix (for chunks: of a chunk key), or undefined when the key is not ours. */
  private idOf(key: string, pattern?: RegExp): string | undefined {
    const prefix = this.config.objectPrefix;
    if (!key.startsWith(prefix)) return undefined;
    let id = key.slice(prefix.length);
    if (pattern) {
      const match = pattern.exec(id);
      if (!match) return undefined;
      id = match[1];
    }
    return isValidUploadId(id) ? id : undefined;
  }

  private async journal(id: string): Promise<StoredJournal | undefined | 'unreadable'> {
    await this.take(1);
    try {
      return await this.sweeper.internals.infos.read(id);
    } catch (error) {
      if (error instanceof UploadNotFoundError) return undefined;
      // Not ours to judge (a newer format, a broken object): left alone.
      this.sweeper.internals.logger.warn(`upload ${id}: cannot read its journal: ${(error as Error).message}`);
      return 'unreadable';
    }
  }

  private async guarded(what: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      if (this.stopped.aborted) return;
      this.report.failures++;
      this.sweeper.internals.logger.warn(
        `sweeping ${what} failed: ${(error as Error)?.name}: ${(error as Error)?.message}`,
      );
    }
  }

  private async take(calls: number): Promise<void> {
    await this.budget.take(calls);
    this.report.calls += calls;
  }
}

function isPast(iso: string | undefined | null, now: number): boolean {
  return typeof iso === 'string' && Date.parse(iso) <= now;
}

/** At most `perMinute` calls a minute, spaced evenly: `take(n)` waits until n more calls fit. */
export class CallBudget {
  private readonly intervalMs: number;
  private next = 0;

  constructor(
    perMinute: number,
    private readonly signal?: AbortSignal,
  ) {
    this.intervalMs = 60_000 / perMinute;
  }

  async take(calls = 1): Promise<void> {
    const now = Date.now();
    const start = Math.max(now, this.next);
    this.next = start + calls * this.intervalMs;
    if (start > now) await sleep(start - now, this.signal);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
