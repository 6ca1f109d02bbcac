import type { UploadLock } from '../locker/locker.interface';
import { isValidUploadId } from '../protocol/upload-id';
import type { HeldBytes, HeldIn } from './held-bytes/held-bytes';
import { InfoObjects } from './info-objects';
import { heldInRedisNotConfigured, StorageError, UploadNotFoundError } from './store-errors';
import { toStored, UploadInfo } from './upload-info';

/**
 * The uploads' journals, each with the strategy that keeps its held-back bytes: the one its journal names
 * (`heldIn`, fixed at creation), whatever this instance's `holdBackIn` says for new uploads.
 */
export class Journals {
  private readonly strategies: ReadonlyMap<HeldIn, HeldBytes>;

  /**
   * @param forNewUploads the strategy of uploads created here
   * @param others the other strategies this instance can serve
   */
  constructor(
    private readonly infos: InfoObjects,
    readonly forNewUploads: HeldBytes,
    others: readonly HeldBytes[] = [],
  ) {
    this.strategies = new Map([forNewUploads, ...others].map((strategy) => [strategy.kind, strategy]));
  }

  /**
   * The upload's journal, with its held bytes. Pass the upload's lock when holding it: only then may it be cached.
   * @throws UploadNotFoundError, StorageError
   */
  async load(id: string, lock?: UploadLock): Promise<UploadInfo> {
    if (!isValidUploadId(id)) throw new UploadNotFoundError(id);
    try {
      for (const strategy of this.strategies.values()) {
        const cached = await strategy.cached(id);
        if (cached) return cached;
      }
      const stored = await this.infos.read(id, lock);
      return await this.heldBytesOf({ id, heldIn: stored.heldIn ?? 's3' }).load(stored, lock);
    } catch (error) {
      if (error instanceof UploadNotFoundError || error instanceof StorageError) throw error;
      throw new StorageError('could not read the upload info', error);
    }
  }

  /**
   * Writes the journal as its strategy keeps it.
   * @param lock the upload's lock when the caller holds it (the journal may then be cached for it)
   */
  async save(info: UploadInfo, lock?: UploadLock): Promise<void> {
    await this.heldBytesOf(info).save(info, lock);
    // A finished journal is the same whatever kept its bytes, and the records of its delivery read it under this
    // lock: remembered here for every strategy (one held in Redis saved it past InfoObjects, through its own cache).
    if (info.finishedAt && lock) this.infos.confirmed(toStored(info, []), lock);
  }

  /**
   * Writes the journal of a finished upload (its announcement record changed). Nothing is held back any more, so only
   * the info object changes: no trace is left in Redis.
   * @param lock the upload's lock when the caller holds it (the journal may then be cached for it)
   */
  async saveFinished(info: UploadInfo, lock?: UploadLock): Promise<void> {
    if (!info.finishedAt || info.pending.length > 0) throw new Error(`upload ${info.id} is not finished`);
    await this.infos.write(toStored(info, []), lock);
  }

  async delete(info: UploadInfo): Promise<void> {
    await this.infos.delete(info.id);
  }

  heldBytesOf(info: Pick<UploadInfo, 'id' | 'heldIn'>): HeldBytes {
    const strategy = this.strategies.get(info.heldIn);
    if (!strategy) throw heldInRedisNotConfigured(info.id);
    return strategy;
  }
}
