import { Logger, OnModuleDestroy } from '@nestjs/common';
import { randomUUID } from 'crypto';
import Redis from 'ioredis';
import Redlock, { ExecutionError, ExecutionStats, Lock, ResourceLockedError } from 'redlock';
import { LockHandle } from './lock-handle';
import { LockOptions, resolveLockOptions } from './locker-options';
import {
  Locker,
  LockerHooks,
  LockServiceStatus,
  LockTimeoutError,
  LockUnavailableError,
  UploadLock,
} from './locker.interface';
import { countReadyMasters, quorumOf } from './master-connections';
import { ReleaseRequest, ReleaseRequestBus } from './release-request-bus';
import { RedlockLockKeeper } from './redlock-lock-keeper';
import { jittered, OperationTimeoutError, sleep, withTimeout } from './timing';

export interface RedlockLockerOptions extends LockOptions {
  /**
   * Longest wait for one round of lock commands on the masters. Past it the lock service counts as unavailable;
   * this is what keeps a request from hanging on clients that queue commands while disconnected.
   * Default: 1000, at most ttlMs / 3.
   */
  operationTimeoutMs: number;
}

/** How often a waiting `lock()` repeats its release request, in case the first one raced the holder's subscription. */
const RELEASE_REQUEST_REPEAT_MS = 500;

type AttemptOutcome = { acquired: Lock } | { lockedBy: 'someone-else' };

interface HeldLock {
  handle: LockHandle;
  /** The id this lock's own `lock()` call published release requests under; its echo must not interrupt it. */
  requesterId: string;
}

/**
 * Upload locks shared by all instances through Redlock over independent Redis masters (a majority must agree).
 *
 * `lock()` tries once, and while the upload is held elsewhere asks the holder to let go over pub/sub and retries
 * until `waitMs`. It fails fast with `LockUnavailableError` when no majority of masters can answer, since waiting
 * would not help. A held lock is extended in the background and its holder is told `lost` as soon as that fails.
 *
 * The clients are borrowed: `close()` leaves them open. They should fail commands rather than queue them while
 * disconnected (see `createRedisClients`); clients that do queue are bounded by `operationTimeoutMs`.
 */
export class RedlockLocker implements Locker, OnModuleDestroy {
  private readonly logger = new Logger(RedlockLocker.name);
  private readonly options: RedlockLockerOptions;
  private readonly redlock: Redlock;
  private readonly quorum: number;
  private readonly releaseRequests: ReleaseRequestBus;
  private readonly held = new Map<string, HeldLock>();
  /** `lock()` calls pausing between attempts, by upload: woken when its holder says it let go. */
  private readonly waitingForRelease = new Map<string, Set<() => void>>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly clients: Redis[],
    options: Partial<RedlockLockerOptions> = {},
    private readonly keyPrefix = 'tus:',
    private readonly hooks: LockerHooks = {},
  ) {
    if (clients.length === 0) throw new Error('RedlockLocker needs at least one Redis client');
    const { operationTimeoutMs, ...lockOptions } = options;
    const resolved = resolveLockOptions(lockOptions);
    if (operationTimeoutMs !== undefined && !(operationTimeoutMs > 0)) {
      throw new RangeError(`lock option operationTimeoutMs must be > 0, got ${operationTimeoutMs}`);
    }
    this.options = {
      ...resolved,
      operationTimeoutMs: operationTimeoutMs ?? Math.min(1_000, Math.floor(resolved.ttlMs / 3)),
    };
    // Retries are ours (the bounded wait loop), so that release requests and error triage happen between them.
    this.redlock = new Redlock(clients, { retryCount: 0, driftFactor: 0.01 });
    this.quorum = quorumOf(clients.length);
    this.releaseRequests = new ReleaseRequestBus(
      clients,
      keyPrefix,
      (request) => this.onReleaseRequest(request),
      (uploadId) => this.wakeWaiters(uploadId),
    );
  }

  async lock(uploadId: string): Promise<UploadLock> {
    this.assertOpen();
    this.releaseRequests.listen();
    const requesterId = randomUUID();
    const startedAt = Date.now();
    const deadline = startedAt + this.options.waitMs;
    let stopAsking: (() => void) | undefined;
    try {
      for (;;) {
        const outcome = await this.attempt(uploadId);
        if ('acquired' in outcome) return this.hold(uploadId, outcome.acquired, requesterId);
        stopAsking ??= this.askHolderToRelease(uploadId, requesterId);
        const timeLeft = deadline - Date.now();
        if (timeLeft <= 0) throw new LockTimeoutError(uploadId, Date.now() - startedAt);
        await this.pauseUnlessReleased(
          uploadId,
          Math.min(jittered(this.options.retryDelayMs, this.options.retryJitterMs), timeLeft),
        );
        this.assertOpen();
      }
    } finally {
      stopAsking?.();
    }
  }

  async tryLock(uploadId: string): Promise<UploadLock | null> {
    this.assertOpen();
    this.releaseRequests.listen();
    const outcome = await this.attempt(uploadId);
    return 'acquired' in outcome ? this.hold(uploadId, outcome.acquired, randomUUID()) : null;
  }

  /**
   * PINGs every master; a connection still being established gets the same `timeoutMs` to become ready first. Masters
   * that are disconnected count as down at once (their clients fail commands rather than queue them).
   */
  async ping(timeoutMs = this.options.operationTimeoutMs): Promise<LockServiceStatus> {
    const startedAt = Date.now();
    const answers = await Promise.all(
      this.clients.map(async (client) => {
        if ((await countReadyMasters([client], 1, timeoutMs)) === 0) return false;
        const left = Math.max(1, timeoutMs - (Date.now() - startedAt));
        return withTimeout(client.ping(), left, 'PING').then(
          () => true,
          () => false,
        );
      }),
    );
    return { masters: this.clients.length, up: answers.filter(Boolean).length, needed: this.quorum };
  }

  /**
   * Shuts the locker down: new `lock()` calls fail with `LockUnavailableError`, holders are asked to release and
   * get `graceMs` to save what they have, then whatever is still held is released (its holders hear `lost`).
   * Idempotent. Leaves the Redis clients open: they are borrowed.
   */
  close(graceMs = this.options.waitMs): Promise<void> {
    this.closing ??= this.shutDown(graceMs);
    return this.closing;
  }

  onModuleDestroy(): Promise<void> {
    return this.close();
  }

  private async shutDown(graceMs: number): Promise<void> {
    const handles = [...this.held.values()].map(({ handle }) => handle);
    for (const handle of handles) handle.interrupt('release-requested');
    await Promise.race([Promise.all(handles.map((handle) => handle.whenReleased)), sleep(graceMs)]);
    for (const handle of handles) handle.interrupt('lost');
    await Promise.all([...handles.map((handle) => handle.release()), this.releaseRequests.close()]);
  }

  private lockKey(uploadId: string): string {
    return `${this.keyPrefix}lock:${uploadId}`;
  }

  private async attempt(uploadId: string): Promise<AttemptOutcome> {
    const { ttlMs, operationTimeoutMs } = this.options;
    const ready = await countReadyMasters(this.clients, this.quorum, operationTimeoutMs);
    if (ready < this.quorum) {
      throw new LockUnavailableError(
        `only ${ready} of ${this.clients.length} Redis lock masters are connected, ${this.quorum} are needed`,
      );
    }
    let lock: Lock;
    try {
      lock = await withTimeout(
        this.redlock.acquire([this.lockKey(uploadId)], ttlMs),
        operationTimeoutMs,
        'acquiring the lock',
        (late) => this.releaseQuietly(late),
      );
    } catch (error) {
      if (error instanceof ExecutionError) return this.triageFailedVote(error);
      const reason = error instanceof OperationTimeoutError ? error.message : String(error);
      throw new LockUnavailableError(`Redis lock masters did not answer: ${reason}`, error);
    }
    if (lock.expiration <= Date.now()) {
      // Granted, but the round trip ate the whole TTL: the lock may already be gone on some masters.
      this.releaseQuietly(lock);
      throw new LockUnavailableError('Redis lock masters answered too slowly to grant a valid lock');
    }
    return { acquired: lock };
  }

  /**
   * Redlock reports "no quorum" the same way whether the key is held or masters failed. Tell them apart by the
   * votes: if more masters failed than the quorum can spare, no retry can succeed; otherwise someone holds it.
   */
  private async triageFailedVote(error: ExecutionError): Promise<AttemptOutcome> {
    const lastAttempt = error.attempts[error.attempts.length - 1];
    const stats =
      lastAttempt !== undefined
        ? await withTimeout(lastAttempt, this.options.operationTimeoutMs, 'lock vote').catch(() => undefined)
        : undefined;
    // Without all votes in, a majority still answered promptly; treating it as contention retries until waitMs.
    if (!stats) return { lockedBy: 'someone-else' };
    const failures = failedVotes(stats);
    if (failures.length > stats.membershipSize - stats.quorumSize) {
      throw new LockUnavailableError(
        `${failures.length} of ${stats.membershipSize} Redis lock masters failed: ${failures[0]?.message}`,
        failures[0],
      );
    }
    return { lockedBy: 'someone-else' };
  }

  private hold(uploadId: string, lock: Lock, requesterId: string): UploadLock {
    if (this.closing) {
      this.releaseQuietly(lock);
      throw new LockUnavailableError('the lock service is shutting down');
    }
    const handle: LockHandle = new LockHandle(uploadId, async () => {
      if (this.held.get(uploadId)?.handle === handle) this.held.delete(uploadId);
      await keeper.release();
      // Someone asked for it: tell them it is free now, rather than leave them to their next retry.
      if (handle.signal.aborted) {
        this.wakeWaiters(uploadId);
        this.releaseRequests.publishReleased(uploadId);
      }
    });
    const keeper = new RedlockLockKeeper(this.redlock, lock, handle, this.options);
    this.held.set(uploadId, { handle, requesterId });
    keeper.start();
    return handle;
  }

  private askHolderToRelease(uploadId: string, requesterId: string): () => void {
    this.hooks.releaseRequested?.(uploadId);
    // A holder in this very instance needs no round trip through Redis.
    this.interruptHolder({ uploadId, requesterId });
    const request = { uploadId, requesterId };
    this.releaseRequests.publish(request);
    const repeat = setInterval(() => this.releaseRequests.publish(request), RELEASE_REQUEST_REPEAT_MS);
    repeat.unref();
    return () => clearInterval(repeat);
  }

  /** Waits `ms` before the next attempt, or less when the holder says it let go (see ReleaseRequestBus). */
  private pauseUnlessReleased(uploadId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const waiters = this.waitingForRelease.get(uploadId) ?? new Set<() => void>();
      this.waitingForRelease.set(uploadId, waiters);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0 && this.waitingForRelease.get(uploadId) === waiters) {
          this.waitingForRelease.delete(uploadId);
        }
        resolve();
      };
      const timer = setTimeout(done, ms);
      waiters.add(done);
    });
  }

  private wakeWaiters(uploadId: string): void {
    for (const wake of [...(this.waitingForRelease.get(uploadId) ?? [])]) wake();
  }

  private onReleaseRequest(request: ReleaseRequest): void {
    this.interruptHolder(request);
  }

  private interruptHolder({ uploadId, requesterId }: ReleaseRequest): void {
    const held = this.held.get(uploadId);
    if (!held || held.requesterId === requesterId) return;
    // Waiters repeat their request every 500 ms: a holder already asked is counted once.
    if (held.handle.active && !held.handle.signal.aborted) this.hooks.releaseRequestReceived?.(uploadId);
    held.handle.interrupt('release-requested');
  }

  private releaseQuietly(lock: Lock): void {
    this.redlock
      .release(lock)
      .catch((error: Error) =>
        this.logger.debug(`late release of ${lock.resources.join(', ')} failed: ${error.message}`),
      );
  }

  private assertOpen(): void {
    if (this.closing) throw new LockUnavailableError('the lock service is shutting down');
  }
}

function failedVotes(stats: ExecutionStats): Error[] {
  return [...stats.votesAgainst.values()].filter((vote) => !(vote instanceof ResourceLockedError));
}
