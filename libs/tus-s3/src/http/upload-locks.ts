import { Inject, Injectable, Optional } from '@nestjs/common';
import { resolveLockOptions } from '../locker/locker-options';
import { isHeld, Locker, UploadLock } from '../locker/locker.interface';
import { tryLockOn } from '../locker/try-lock';
import { isValidUploadId } from '../protocol/upload-id';
import { UploadNotFoundError } from '../store/store-errors';
import type { CreationLock } from '../store/tus-data-store';
import { TUS_LOCKER, TUS_S3_OPTIONS } from '../tus-s3.constants';
import type { ResolvedTusS3Options } from '../tus-s3.options';

/** A kept lock is used again only with at least this much of its validity left (see UploadLock.validUntil). */
const KEPT_LOCK_MARGIN_MS = 1000;

interface KeptLock {
  readonly lock: UploadLock;
  readonly timer: NodeJS.Timeout;
  readonly onStop: () => void;
}

/**
 * The one place where a request's hold on an upload begins and ends. Work that must not keep other requests waiting
 * (copies, listeners) runs after `withLock` returns.
 *
 * A tus client sends an upload's requests one after another (HEAD, then PATCH after PATCH), so after a request that
 * leaves the upload unfinished (the caller says so: `keepFor`) the lock stays with this instance for a moment
 * (`lock.keepMs`, 1 s): the next request, if it comes here, starts at once, without taking the lock again, and finds
 * the journal it left (InfoObjects remembers it for exactly that lock). The request that finishes an upload keeps it
 * the same way for the record of the upload's delivery, which follows at once (FinishedAnnouncements). Kept
 * locks give way at once: when anyone asks for the upload (another instance, or a request here that waits in the
 * locker), when the lock service says it is lost, or when the time is up. A lock is kept only if it reports how long
 * it is valid (`validUntil`), and used again only while that validity has a margin left: a process that stalled
 * past its lock's expiry never acts on a lock it may no longer hold.
 */
@Injectable()
export class UploadLocks {
  private readonly kept = new Map<string, KeptLock>();
  private readonly keepMs: number;

  constructor(
    @Inject(TUS_LOCKER) private readonly locker: Locker,
    @Optional() @Inject(TUS_S3_OPTIONS) options?: Pick<ResolvedTusS3Options, 'lock'>,
  ) {
    this.keepMs = resolveLockOptions(options?.lock).keepMs;
  }

  /**
   * @param keepFor after a successful `work`, whether the upload may see another request soon (it is unfinished, or
   * the record of its delivery follows): then the lock is kept for it; otherwise, and after a failure, it is released
   */
  async withLock<T>(
    uploadId: string,
    work: (lock: UploadLock) => Promise<T>,
    keepFor?: (result: T) => boolean,
  ): Promise<T> {
    // An id we would never have issued cannot be locked, read or written: say 404 before touching Redis or S3.
    if (!isValidUploadId(uploadId)) throw new UploadNotFoundError(uploadId);
    const lock = (await this.takeKept(uploadId)) ?? (await this.locker.lock(uploadId));
    let keep = false;
    try {
      const result = await work(lock);
      keep = this.keepMs > 0 && keepFor !== undefined && keepFor(result);
      return result;
    } finally {
      if (keep && usable(lock)) this.keep(uploadId, lock);
      else await lock.release();
    }
  }

  /**
   * Creates an upload under its lock, when that lock can be had at once, and keeps the lock for the upload's first
   * request, as after any request that leaves an upload unfinished: a PATCH right after the POST then takes no lock
   * and reads no journal. Creation needs no lock, so a busy or failing lock service only means creating without.
   */
  async createKeeping<T extends { readonly id: string; readonly finishedAt: string | null }>(
    create: (lockFor: CreationLock | undefined) => Promise<T>,
  ): Promise<T> {
    if (this.keepMs <= 0) return create(undefined);
    let taken: { id: string; lock: UploadLock } | undefined;
    const lockFor: CreationLock = async (id) => {
      const lock = isValidUploadId(id) ? await tryLockOn(this.locker, id).catch(() => null) : null;
      if (lock) taken = { id, lock };
      return lock;
    };
    let created: T | undefined;
    try {
      created = await create(lockFor);
      return created;
    } finally {
      if (taken) {
        const { id, lock } = taken;
        if (created && created.id === id && created.finishedAt === null && usable(lock)) this.keep(id, lock);
        else await lock.release();
      }
    }
  }

  /** Holds several uploads' locks at once (each id once, in the order given), e.g. the partials of a final upload. */
  async withLocks<T>(uploadIds: readonly string[], work: () => Promise<T>): Promise<T> {
    const [first, ...rest] = [...new Set(uploadIds)];
    if (first === undefined) return work();
    return this.withLock(first, () => this.withLocks(rest, work));
  }

  private keep(uploadId: string, lock: UploadLock): void {
    const giveUp = () => void this.release(uploadId, lock);
    const timer = setTimeout(giveUp, this.keepMs);
    timer.unref();
    lock.signal.addEventListener('abort', giveUp, { once: true });
    this.kept.set(uploadId, { lock, timer, onStop: giveUp });
  }

  /** The lock kept from this upload's last request, when it may still be used; otherwise released first. */
  private async takeKept(uploadId: string): Promise<UploadLock | undefined> {
    const kept = this.unkeep(uploadId);
    if (!kept) return undefined;
    if (usable(kept)) return kept;
    await kept.release();
    return undefined;
  }

  private async release(uploadId: string, lock: UploadLock): Promise<void> {
    if (this.kept.get(uploadId)?.lock !== lock) return;
    this.unkeep(uploadId);
    await lock.release();
  }

  private unkeep(uploadId: string): UploadLock | undefined {
    const kept = this.kept.get(uploadId);
    if (!kept) return undefined;
    this.kept.delete(uploadId);
    clearTimeout(kept.timer);
    kept.lock.signal.removeEventListener('abort', kept.onStop);
    return kept.lock;
  }
}

/** Held, not asked to let go, and valid for a while yet (without `validUntil`, a lock is never kept). */
function usable(lock: UploadLock): boolean {
  if (lock.signal.aborted || lock.validUntil === undefined || !isHeld(lock)) return false;
  return lock.validUntil - Date.now() > KEPT_LOCK_MARGIN_MS;
}
