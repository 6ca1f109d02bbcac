import { ObjectKeys } from './object-keys';
import { S3Objects } from './s3-objects';
import { isS3NotFound, StorageError, UploadNotFoundError } from './store-errors';
import type { StoredJournal } from './upload-info';

/** The `.info` objects: each upload's journal as stored in S3 (see {@link StoredJournal}). */
export class InfoObjects {
  constructor(
    private readonly objects: S3Objects,
    private readonly keys: ObjectKeys,
  ) {}

  /** @throws UploadNotFoundError, StorageError */
  async read(id: string): Promise<StoredJournal> {
    try {
      const stored = JSON.parse(await this.objects.getText(this.keys.info(id))) as StoredJournal;
      if (stored.version !== 1 || stored.id !== id) throw new StorageError(`info object of ${id} is not readable`);
      return stored;
    } catch (error) {
      if (isS3NotFound(error)) throw new UploadNotFoundError(id);
      if (error instanceof StorageError) throw error;
      throw new StorageError('could not read the upload info', error);
    }
  }

  async write(stored: StoredJournal): Promise<void> {
    await this.objects.putJson(
      this.keys.info(stored.id),
      JSON.stringify(stored),
      'save the upload info',
      stored.finishedAt === null,
    );
  }

  async delete(id: string): Promise<void> {
    await this.objects.delete(this.keys.info(id));
  }
}
