import { Inject, Injectable } from '@nestjs/common';
import { Locker, UploadLock } from '../locker/locker.interface';
import { isValidUploadId } from '../protocol/upload-id';
import { UploadNotFoundError } from '../store/store-errors';
import { TUS_LOCKER } from '../tus-s3.constants';

/**
 * The one place where a request's hold on an upload begins and ends: acquire, run, and release in `finally`,
 * whatever happens in between. Work that must not keep other requests waiting (copies, listeners) runs after
 * `withLock` returns.
 */
@Injectable()
export class UploadLocks {
  constructor(@Inject(TUS_LOCKER) private readonly locker: Locker) {}

  async withLock<T>(uploadId: string, work: (lock: UploadLock) => Promise<T>): Promise<T> {
    // An id we would never have issued cannot be locked, read or written: say 404 before touching Redis or S3.
    if (!isValidUploadId(uploadId)) throw new UploadNotFoundError(uploadId);
    const lock = await this.locker.lock(uploadId);
    try {
      return await work(lock);
    } finally {
      await lock.release();
    }
  }

  /** Holds several uploads' locks at once (each id once, in the order given), e.g. the partials of a final upload. */
  async withLocks<T>(uploadIds: readonly string[], work: () => Promise<T>): Promise<T> {
    const [first, ...rest] = [...new Set(uploadIds)];
    if (first === undefined) return work();
    return this.withLock(first, () => this.withLocks(rest, work));
  }
}
