import { isHeld, type UploadLock } from '../locker/locker.interface';
import { ObjectKeys } from './object-keys';
import { S3Objects } from './s3-objects';
import { isS3NotFound, StorageError, UploadNotFoundError } from './store-errors';
import type { StoredJournal } from './upload-info';

/** Journals remembered for the lock they were read or written under (see `read`); the oldest go first. */
const REMEMBERED_JOURNALS = 1000;

/**
 * The `.info` objects: each upload's journal as stored in S3 (see {@link StoredJournal}).
 *
 * The journal of an upload that was read or written under a lock is remembered with that lock, and read
 * from memory while that very lock is still held: nobody else can have written it meanwhile, since every writer of
 * a journal holds its upload's lock. UploadLocks keeps a lock between an upload's requests, so a PATCH that follows
 * the previous one on the same instance saves the GET; and after the request that finished an upload, so the
 * record of its delivery (FinishedAnnouncements) saves it too. A write that fails, or one without a lock, forgets
 * it. Unfinished journals of uploads held in Redis are not remembered here: they have a cache of their own
 * (RedisJournal), which forgets them once they are finished.
 */
export class InfoObjects {
  private readonly remembered = new Map<string, { lock: UploadLock; body: string }>();

  constructor(
    private readonly objects: S3Objects,
    private readonly keys: ObjectKeys,
  ) {}

  /**
   * @param lock the upload's lock, when the caller holds it
   * @throws UploadNotFoundError, StorageError
   */
  async read(id: string, lock?: UploadLock): Promise<StoredJournal> {
    const remembered = this.remembered.get(id);
    if (remembered && lock && remembered.lock === lock && isHeld(lock)) return parse(id, remembered.body);
    try {
      const body = await this.objects.getText(this.keys.info(id));
      const stored = parse(id, body);
      this.remember(stored, body, lock);
      return stored;
    } catch (error) {
      if (isS3NotFound(error)) throw new UploadNotFoundError(id);
      if (error instanceof StorageError) throw error;
      throw new StorageError('could not read the upload info', error);
    }
  }

  /** @param lock the upload's lock, when the caller holds it */
  async write(stored: StoredJournal, lock?: UploadLock): Promise<void> {
    this.remembered.delete(stored.id);
    const body = JSON.stringify(stored);
    await this.objects.putJson(this.keys.info(stored.id), body, 'save the upload info', stored.finishedAt === null);
    this.remember(stored, body, lock);
  }

  /**
   * Remembers `stored` for reads under `lock`, as `write` does, when what S3 holds says the same and the caller
   * learned more since (held-back chunks it listed as unconfirmed are in S3).
   */
  confirmed(stored: StoredJournal, lock: UploadLock): void {
    this.remember(stored, JSON.stringify(stored), lock);
  }

  async delete(id: string): Promise<void> {
    this.remembered.delete(id);
    await this.objects.delete(this.keys.info(id));
  }

  private remember(stored: StoredJournal, body: string, lock: UploadLock | undefined): void {
    this.remembered.delete(stored.id);
    // Unfinished journals of uploads held in Redis are written by RedisHeldBytes, which has its own cache
    // (RedisJournal); once finished, only the records of the delivery write them, through here.
    if (!lock || (stored.heldIn === 'redis' && !stored.finishedAt)) return;
    this.remembered.set(stored.id, { lock, body });
    if (this.remembered.size > REMEMBERED_JOURNALS) this.remembered.delete(this.remembered.keys().next().value!);
  }
}

function parse(id: string, body: string): StoredJournal {
  const stored = JSON.parse(body) as StoredJournal;
  if (stored.version !== 1 || stored.id !== id) throw new StorageError(`info object of ${id} is not readable`);
  return stored;
}
