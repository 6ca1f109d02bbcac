import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { S3Client } from '@aws-sdk/client-s3';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { Locker } from '../locker/locker.interface';
import { ExpirySweeper, SweepReport } from '../store/expiry-sweeper';
import { deleteStaleSpools } from '../store/spool-cleanup';
import { MemorySweepState, RedisSweepState } from '../store/sweep-state';
import type { TusDataStore } from '../store/tus-data-store';
import {
  Clock,
  TUS_CLOCK,
  TUS_LOCKER,
  TUS_REDIS_CLIENTS,
  TUS_S3_CLIENT,
  TUS_S3_OPTIONS,
  TUS_STORE,
} from '../tus-s3.constants';
import type { ResolvedTusS3Options } from '../tus-s3.options';

/** Spool files untouched this long are a killed process's leftovers. */
const STALE_SPOOL_MS = 60 * 60 * 1000;

/**
 * Schedules the expiry sweeps (`sweepEveryMs`, with `expireAfterMs`) on an unref'd timer, one at a time on this
 * instance (and, through the lease in Redis, across instances), and at start-up deletes spool files a killed process
 * left in `tempDir`. `sweepNow()` runs one sweep at once (operations, tests).
 */
@Injectable()
export class TusSweeper implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('TusS3Sweeper');
  private readonly sweeper: ExpirySweeper | null;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<SweepReport> | undefined;
  private readonly stop = new AbortController();

  constructor(
    @Inject(TUS_S3_OPTIONS) private readonly options: ResolvedTusS3Options,
    @Inject(TUS_S3_CLIENT) client: S3Client,
    @Inject(TUS_STORE) store: TusDataStore,
    @Inject(TUS_LOCKER) locker: Locker,
    @Inject(TUS_CLOCK) clock: Clock,
    @Inject(TUS_REDIS_CLIENTS) redis: Redis[],
  ) {
    this.sweeper =
      options.expireAfterMs === null
        ? null
        : new ExpirySweeper({
            client,
            bucket: options.bucket,
            objectPrefix: options.objectPrefix,
            expireAfterMs: options.expireAfterMs,
            maxCallsPerMinute: options.sweepMaxCallsPerMinute,
            store,
            locker,
            clock,
            // With the in-memory locker there is one instance: no lease needed beyond this one.
            state:
              redis.length > 0
                ? new RedisSweepState(redis[0], options.redis.keyPrefix, `${options.bucket}/${options.objectPrefix}`)
                : new MemorySweepState(),
            owner: `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
          });
  }

  onApplicationBootstrap(): void {
    void deleteStaleSpools(this.options.tempDir, STALE_SPOOL_MS).then((count) => {
      if (count > 0) this.logger.log(`deleted ${count} spool file(s) a stopped process left in the temp directory`);
    });
    const every = this.options.sweepEveryMs;
    if (this.sweeper && every !== null) {
      this.timer = setInterval(() => void this.sweepNow().catch(() => undefined), every);
      this.timer.unref();
    }
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    this.stop.abort();
    await this.running?.catch(() => undefined);
  }

  /**
   * Runs a sweep now (or joins the one running on this instance). `ran: false` when another instance holds the lease.
   * @throws Error when expiry is off (no `expireAfterMs`)
   */
  sweepNow(): Promise<SweepReport> {
    const sweeper = this.sweeper;
    if (!sweeper) return Promise.reject(new Error('expiry is off: set expireAfterMs'));
    this.running ??= sweeper
      .sweep(this.options.sweepEveryMs ?? Infinity, this.stop.signal)
      .then(
        (report) => {
          this.logReport(report);
          return report;
        },
        (error: unknown) => {
          this.logger.warn(`sweep failed (the next one continues where it stopped): ${(error as Error)?.message}`);
          throw error;
        },
      )
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private logReport(report: SweepReport): void {
    const { terminated, abortedOrphans, deletedChunks, skippedBusy } = report;
    if (terminated.length + abortedOrphans.length + deletedChunks.length + skippedBusy.length === 0) return;
    this.logger.log(
      `sweep: ${terminated.length} expired upload(s) terminated, ${abortedOrphans.length} orphan multipart upload(s) aborted, ` +
        `${deletedChunks.length} orphan chunk(s) deleted, ${skippedBusy.length} busy upload(s) skipped, ${report.calls} S3 calls` +
        (report.complete ? '' : ' (to be continued)'),
    );
  }
}
