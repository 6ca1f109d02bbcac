import type { ServerResponse } from 'node:http';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { UploadEvents } from '../../events/upload-events';
import { parseDeclaredLength } from '../../protocol/headers';
import { parseUploadConcat } from '../../protocol/concat';
import { TusErrors } from '../../protocol/tus-error';
import { UploadExistsError, UploadNotFoundError } from '../../store/store-errors';
import { CreationLock, isFinished, TusDataStore, Upload } from '../../store/tus-data-store';
import { TUS_STORE } from '../../tus-s3.constants';
import { CreationRules } from '../creation-rules';
import { describe } from '../errors';
import { hasBody, isOffsetStream, parseContentLength, tusHeader, TusRequest } from '../request';
import { send } from '../tus-response';
import { uploadExpiresHeader } from '../upload-expiry';
import { UploadLocks } from '../upload-locks';
import { UploadWrites } from '../upload-writes';

/** POST (creation, creation-with-upload, creation-defer-length, and partial uploads of concatenation). */
@Injectable()
export class CreationHandler {
  private readonly logger = new Logger('TusS3');

  constructor(
    @Inject(TUS_STORE) private readonly store: TusDataStore,
    private readonly rules: CreationRules,
    private readonly locks: UploadLocks,
    private readonly writes: UploadWrites,
    private readonly events: UploadEvents,
  ) {}

  async handle(req: TusRequest, res: ServerResponse): Promise<void> {
    const concat = parseUploadConcat(tusHeader(req, 'Upload-Concat'));
    const declared = parseDeclaredLength(tusHeader(req, 'Upload-Length'), tusHeader(req, 'Upload-Defer-Length'));
    const size = declared.kind === 'known' ? declared.size : null;
    const withBody = isOffsetStream(req) && hasBody(req);
    if (declared.kind === 'deferred') this.rules.requireExtension('creation-defer-length', 'Upload-Defer-Length');
    if (withBody) this.rules.requireExtension('creation-with-upload', 'data in a creation request');
    if (concat) this.rules.requireExtension('concatenation', 'Upload-Concat');
    const contentLength = withBody ? parseContentLength(req) : undefined;
    const checksum = withBody ? this.rules.checksumOf(req) : undefined;
    const planned = await this.rules.plan(req, size, concat?.kind === 'partial' ? concat : undefined);
    if (contentLength !== undefined && contentLength > (size ?? planned.sizeLimit)) {
      throw TusErrors.tooLarge(`the body (${contentLength} bytes) is longer than Upload-Length`);
    }

    // A creation without a body keeps the new upload's lock for the PATCH that follows; one with a body takes it
    // for that body below.
    const create = (lockFor?: CreationLock) => this.store.create(planned.upload, lockFor);
    const upload = await (withBody ? create() : this.locks.createKeeping(create)).catch((error: unknown) => {
      if (error instanceof UploadExistsError) throw TusErrors.conflict(`an upload ${error.uploadId} exists already`);
      throw error;
    });
    this.events.created(upload);
    const location = this.rules.locationOf(req, upload.id);
    if (!withBody) {
      if (isFinished(upload)) {
        // Finished by its creation (length 0): noted as due like any upload a store call finished.
        await this.writes.noteFinished(upload);
        await this.writes.finishedAtCreation(req, upload);
        await this.writes.announce(upload);
      }
      return send(res, 201, {
        Location: location,
        'Upload-Offset': size === 0 ? 0 : undefined,
        'Upload-Expires': uploadExpiresHeader(upload),
      });
    }
    const outcome = await this.locks.withLock(
      upload.id,
      async (lock) => {
        try {
          const written = await this.writes.append(req, upload, lock, {
            sizeLimit: planned.sizeLimit,
            kind: 'create',
            checksum,
          });
          // A creation that fails is removed, so only a PATCH may go on when its body was too long.
          if (written.stop === 'too-large') throw TusErrors.tooLarge('the body is longer than Upload-Length');
          return written;
        } catch (error) {
          // The client never learns this upload's URL when creation fails: leave nothing of it behind (a refusal of
          // beforeFinish removed it already).
          if (await this.remove(upload, lock)) this.events.terminated(upload);
          throw error;
        }
      },
      (written) => this.writes.keepsLock(upload, written.upload),
    );
    if (isFinished(outcome.upload)) await this.writes.announce(outcome.upload);
    this.writes.answer(req, res, outcome, location);
  }

  /** Whether it removed the upload (false: gone already, or removing failed, which is logged). */
  private async remove(upload: Upload, lock: Parameters<TusDataStore['terminate']>[1]): Promise<boolean> {
    try {
      await this.store.terminate(await this.store.get(upload.id, lock), lock);
      return true;
    } catch (cleanup) {
      if (!(cleanup instanceof UploadNotFoundError)) {
        this.logger.warn(`upload ${upload.id}: could not remove the failed creation: ${describe(cleanup)}`);
      }
      return false;
    }
  }
}
