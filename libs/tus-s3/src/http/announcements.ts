import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { UploadEvents } from '../events/upload-events';
import type { UploadLock } from '../locker/locker.interface';
import { UploadNotFoundError } from '../store/store-errors';
import {
  AnnouncementCapable,
  supportsAnnouncements,
  supportsFinishedCopy,
  TusDataStore,
  Upload,
} from '../store/tus-data-store';
import { Clock, TUS_CLOCK, TUS_REDIS_CLIENTS, TUS_S3_OPTIONS, TUS_STORE } from '../tus-s3.constants';
import { DueAnnouncementIndex, MemoryDueAnnouncements, RedisDueAnnouncements } from './due-announcements';
import type { ResolvedTusS3Options } from '../tus-s3.options';
import { UploadLocks } from './upload-locks';

/**
 * Delivers what a finished upload owes: the `copyOnFinish` copy, then `upload.finished`, each recorded in the
 * store once done (under the upload's lock, briefly). The instance that finished the upload delivers right away;
 * a request that later reads an upload whose delivery is still due and older than `announcementGraceMs` (its
 * deliverer died, or the copy failed) claims it under the lock and delivers it again, in the background.
 */
@Injectable()
export class FinishedAnnouncements implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('TusS3');
  /** Uploads this instance is delivering now: a request meanwhile does not start another attempt. */
  private readonly delivering = new Set<string>();
  /** Records of first deliveries, written after their request was answered (see `deliver`). */
  private readonly recording = new Set<Promise<void>>();
  /** Finished uploads that may still owe their delivery: what the periodic scan looks at. */
  private readonly due: DueAnnouncementIndex;
  private scanTimer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(TUS_STORE) private readonly store: TusDataStore,
    @Inject(TUS_S3_OPTIONS) private readonly options: ResolvedTusS3Options,
    @Inject(TUS_CLOCK) private readonly clock: Clock,
    @Inject(TUS_REDIS_CLIENTS) redis: Redis[],
    private readonly locks: UploadLocks,
    private readonly events: UploadEvents,
  ) {
    const key = `${options.redis.keyPrefix}announce:${options.bucket}/${options.objectPrefix}`;
    this.due = redis.length > 0 ? new RedisDueAnnouncements(redis[0], key) : new MemoryDueAnnouncements();
  }

  /**
   * Every `announcementScanMs`, takes over the overdue deliveries of uploads nobody touches again (their deliverer
   * died): each instance scans, and the claim under the upload's lock lets only one deliver.
   */
  onApplicationBootstrap(): void {
    if (!supportsAnnouncements(this.store) || this.options.announcementScanMs === 0) return;
    this.scanTimer = setInterval(() => void this.scan(), this.options.announcementScanMs);
    this.scanTimer.unref();
  }

  /** Lets the records still being written land (best effort: one that fails only means a delivery again later). */
  async onModuleDestroy(): Promise<void> {
    clearInterval(this.scanTimer);
    await this.recorded();
  }

  /** Resolves once every delivery record started so far is written, or failed (logged). */
  async recorded(): Promise<void> {
    await Promise.all([...this.recording]);
  }

  /** Notes an upload that just finished (under its lock, before anything else can fail): the scan will look at it. */
  async noteFinished(upload: Upload): Promise<void> {
    const store = this.store;
    if (!supportsAnnouncements(store) || !store.dueAnnouncement(upload)) return;
    await this.due.add(upload.id, this.clock.now().getTime()).catch((error: unknown) => {
      this.logger.warn(`upload ${upload.id}: could not note its delivery as due: ${(error as Error).message}`);
    });
  }

  /** Looks at the uploads noted longer ago than the grace period: delivers what is overdue, forgets the rest. */
  async scan(): Promise<void> {
    const store = this.store;
    if (!supportsAnnouncements(store)) return;
    try {
      const ids = await this.due.notedBefore(this.clock.now().getTime() - this.options.announcementGraceMs, 100);
      for (const id of ids) {
        const upload = await store.get(id).catch((error: unknown) => {
          if (error instanceof UploadNotFoundError) return undefined;
          throw error;
        });
        if (!upload || !store.dueAnnouncement(upload)) await this.due.remove(id);
        else await this.resume(upload);
      }
    } catch (error) {
      this.logger.warn(`the scan for overdue upload.finished deliveries failed: ${(error as Error).message}`);
    }
  }

  /**
   * Whether delivering `upload`, which a request just finished, ends with a record in the store: that request then
   * keeps the upload's lock for the record (UploadLocks), which saves taking it again and reading the journal back.
   */
  recordFollows(upload: Upload): boolean {
    return supportsAnnouncements(this.store) && this.store.dueAnnouncement(upload) !== undefined;
  }

  /**
   * Right after the upload finished (its lock released, or kept for the record: see `recordFollows`): copy, announce,
   * record. Resolves once the listeners ran; the record that they did is written meanwhile (see `recorded`), so that
   * the request that finished the upload is not answered an S3 round trip (or a lock and two) later. Should that
   * record be lost, the delivery is made again, as after any crash: listeners are idempotent by `upload.id` anyway.
   */
  async deliver(upload: Upload): Promise<void> {
    const store = this.store;
    if (!supportsAnnouncements(store) || !store.dueAnnouncement(upload)) return this.events.finished(upload);
    await this.deliverDue(store, upload);
  }

  /**
   * For every request that read an upload: when its delivery is overdue, takes it over in the background (the
   * request need not wait: the promise never rejects, and resolves once the takeover is over).
   */
  async resume(upload: Upload): Promise<void> {
    const store = this.store;
    if (!supportsAnnouncements(store) || !this.overdue(store, upload) || this.delivering.has(upload.id)) return;
    this.delivering.add(upload.id);
    await this.takeOver(store, upload.id)
      .catch((error) =>
        this.logger.warn(`upload ${upload.id}: resuming its upload.finished failed: ${(error as Error).message}`),
      )
      .finally(() => this.delivering.delete(upload.id));
  }

  private async takeOver(store: TusDataStore & AnnouncementCapable, id: string): Promise<void> {
    const claimed = await this.locks.withLock(id, async (lock) => {
      const upload = await store.get(id, lock);
      // Another instance may have delivered or claimed it since: only an attempt still overdue is taken over.
      return this.overdue(store, upload) ? store.claimAnnouncement(upload, lock) : undefined;
    });
    if (!claimed) return;
    this.logger.warn(
      `upload ${id}: upload.finished was not delivered in time; delivering it again (attempt ${store.dueAnnouncement(claimed)?.attempt})`,
    );
    await this.deliverDue(store, claimed, true);
  }

  private overdue(store: AnnouncementCapable, upload: Upload): boolean {
    const due = store.dueAnnouncement(upload);
    return (
      due !== undefined && this.clock.now().getTime() - Date.parse(due.claimedAt) >= this.options.announcementGraceMs
    );
  }

  /**
   * @param takeover a takeover (in the background already, `delivering` kept by the caller): resolves once recorded.
   * A first delivery resolves once the listeners ran, and records in the background (see `deliver`).
   */
  private async deliverDue(store: TusDataStore & AnnouncementCapable, upload: Upload, takeover = false): Promise<void> {
    if (!takeover) this.delivering.add(upload.id);
    let recording: Promise<void> | undefined;
    // A copy of many GiB outlasts the grace period: keep the claim fresh so that no other instance starts over.
    const renewal = setInterval(
      () => void this.record(upload.id, (fresh, lock) => store.renewAnnouncementClaim(fresh, lock)),
      Math.max(this.options.announcementGraceMs / 3, 100),
    );
    renewal.unref();
    try {
      const due = store.dueAnnouncement(upload)!;
      if (due.copy && !due.copied && supportsFinishedCopy(store)) {
        try {
          await store.copyFinished(upload);
        } catch (error) {
          // Left due: a request after the grace period tries again, and only then is upload.finished emitted.
          this.logger.error(
            `upload ${upload.id}: copying the finished upload failed (retried later): ${(error as Error).message}`,
          );
          return;
        }
        await this.record(upload.id, (fresh, lock) => store.markCopied(fresh, lock));
      }
      await this.events.announceFinished(upload, due.copy, due.attempt);
      recording = this.recordAnnounced(store, upload.id);
      if (takeover) await recording;
      else this.recordInBackground(upload.id, recording);
    } finally {
      clearInterval(renewal);
      if (!takeover && !recording) this.delivering.delete(upload.id);
    }
  }

  private async recordAnnounced(store: AnnouncementCapable, id: string): Promise<void> {
    await this.record(id, (fresh, lock) => store.markAnnounced(fresh, lock));
    await this.due.remove(id).catch(() => undefined); // else the scan finds it delivered and forgets it
  }

  /** Until its record is written, the upload stays among those being delivered: no request starts another attempt. */
  private recordInBackground(id: string, recording: Promise<void>): void {
    const tracked = recording.finally(() => {
      this.delivering.delete(id);
      this.recording.delete(tracked);
    });
    this.recording.add(tracked);
  }

  /** Records progress on the journal as it is now; failing to record only means delivering again later. */
  private async record(id: string, change: (upload: Upload, lock: UploadLock) => Promise<Upload>): Promise<void> {
    try {
      await this.locks.withLock(id, async (lock) => change(await this.store.get(id, lock), lock));
    } catch (error) {
      if (error instanceof UploadNotFoundError) return; // terminated meanwhile
      this.logger.warn(
        `upload ${id}: could not record the delivery (it may be delivered again): ${(error as Error).message}`,
      );
    }
  }
}
