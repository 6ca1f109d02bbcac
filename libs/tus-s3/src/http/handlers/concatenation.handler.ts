import type { ServerResponse } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import { UploadEvents } from '../../events/upload-events';
import { parseUploadConcat } from '../../protocol/concat';
import { TusErrors } from '../../protocol/tus-error';
import { StorageError, UploadExistsError, UploadNotFoundError } from '../../store/store-errors';
import { isFinished, supportsConcatenation, TusDataStore, Upload } from '../../store/tus-data-store';
import { TUS_MOUNT_PATH, TUS_STORE } from '../../tus-s3.constants';
import { CreationRules } from '../creation-rules';
import { hasBody, requestPathOf, tusHeader, TusRequest } from '../request';
import { send } from '../tus-response';
import { UploadLocks } from '../upload-locks';
import { uploadIdOfUrl } from '../upload-url';
import { UploadWrites } from '../upload-writes';

/** Partial uploads read from storage at once. */
const READ_AT_ONCE = 16;

/**
 * POST with `Upload-Concat: final;<urls>`: a new upload made of finished partial uploads, in order. Their locks are
 * held while the bytes are copied (so none is terminated half-way); the final upload is complete when the answer
 * goes out.
 */
@Injectable()
export class ConcatenationHandler {
  constructor(
    @Inject(TUS_STORE) private readonly store: TusDataStore,
    @Inject(TUS_MOUNT_PATH) private readonly mountPath: string,
    private readonly rules: CreationRules,
    private readonly locks: UploadLocks,
    private readonly writes: UploadWrites,
    private readonly events: UploadEvents,
  ) {}

  /** Whether a POST asks for a final upload (the router sends it here rather than to creation). */
  static isFinal(req: TusRequest): boolean {
    return tusHeader(req, 'Upload-Concat')?.trim().startsWith('final;') ?? false;
  }

  async handle(req: TusRequest, res: ServerResponse): Promise<void> {
    const store = this.store;
    if (!supportsConcatenation(store)) throw TusErrors.badRequest('this server does not support concatenation');
    this.rules.requireExtension('concatenation', 'Upload-Concat');
    const header = tusHeader(req, 'Upload-Concat')!.trim();
    const concat = parseUploadConcat(header);
    if (concat?.kind !== 'final')
      throw TusErrors.badRequest('Upload-Concat must be "partial" or "final;<url> <url> ..."');
    if (req.headers['upload-length'] !== undefined || req.headers['upload-defer-length'] !== undefined) {
      throw TusErrors.badRequest('a final upload takes its length from its partial uploads: send no Upload-Length');
    }
    if (hasBody(req)) throw TusErrors.badRequest('a final upload cannot carry data: send it in the partial uploads');
    const uploadIds = concat.urls.map((url) => uploadIdOfUrl(url, this.mountPath, requestPathOf(req)));

    // Refuse a list naming a missing or unfinished upload before taking hundreds of locks one by one; the partials
    // are read again under their locks, since one may be terminated meanwhile.
    await this.finishedPartials(uploadIds);
    const final = await this.locks.withLocks(uploadIds, async () => {
      const partials = await this.finishedPartials(uploadIds);
      const size = partials.reduce((sum, p) => sum + (p.size ?? 0), 0);
      const planned = await this.rules.plan(req, size, { kind: 'final', uploadIds, header });
      const created = await store.create(planned.upload).catch((error: unknown) => {
        if (error instanceof UploadExistsError) throw TusErrors.conflict(`an upload ${error.uploadId} exists already`);
        throw error;
      });
      this.events.created(created);
      if (isFinished(created)) {
        await this.writes.noteFinished(created); // partials of length 0: finished by its creation
        return created;
      }
      return this.locks.withLock(created.id, async (lock) => {
        const outcome = await this.writes.gatingFinish(req, created, lock, 'create', (beforeFinish) =>
          store.concatenate(created, partials, lock, beforeFinish),
        );
        if (outcome.failure || !isFinished(outcome.upload)) {
          await store.terminate(outcome.upload, lock).catch(() => undefined);
          this.events.terminated(created);
          throw outcome.failure ?? new StorageError('the partial uploads could not be read to the end');
        }
        await this.writes.noteFinished(outcome.upload);
        return outcome.upload;
      });
    });
    await this.writes.announce(final);
    send(res, 201, { Location: this.rules.locationOf(req, final.id) });
  }

  private async finishedPartials(uploadIds: readonly string[]): Promise<Upload[]> {
    const partials: Upload[] = [];
    for (let i = 0; i < uploadIds.length; i += READ_AT_ONCE) {
      partials.push(...(await Promise.all(uploadIds.slice(i, i + READ_AT_ONCE).map((id) => this.finishedPartial(id)))));
    }
    return partials;
  }

  private async finishedPartial(id: string): Promise<Upload> {
    const upload = await this.store.get(id).catch((error: unknown) => {
      if (error instanceof UploadNotFoundError)
        throw TusErrors.badRequest(`Upload-Concat: partial upload ${id} was not found`);
      throw error;
    });
    if (upload.concat?.kind !== 'partial')
      throw TusErrors.badRequest(`Upload-Concat: upload ${id} was not created as a partial upload`);
    if (!isFinished(upload)) throw TusErrors.badRequest(`Upload-Concat: partial upload ${id} is not finished yet`);
    return upload;
  }
}
