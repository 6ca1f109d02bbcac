import type { ServerResponse } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import type { TusHooks } from '../../hooks/tus-hooks';
import { parseNonNegativeInteger } from '../../protocol/headers';
import { TusErrors } from '../../protocol/tus-error';
import { isFinished, TusDataStore, Upload, WriteOutcome } from '../../store/tus-data-store';
import { TUS_HOOKS, TUS_S3_OPTIONS, TUS_STORE } from '../../tus-s3.constants';
import type { ResolvedTusS3Options } from '../../tus-s3.options';
import { bodyHasBytes, isOffsetStream, parseContentLength, tusHeader, TusRequest } from '../request';
import { send } from '../tus-response';
import { FinishedAnnouncements } from '../announcements';
import { UploadExpiry, uploadExpiresHeader } from '../upload-expiry';
import { UploadLocks } from '../upload-locks';
import { CreationRules } from '../creation-rules';
import { UploadWrites } from '../upload-writes';

/** PATCH: appends the body at the upload's offset, and may declare a deferred length once. */
@Injectable()
export class PatchHandler {
  constructor(
    @Inject(TUS_STORE) private readonly store: TusDataStore,
    @Inject(TUS_HOOKS) private readonly hooks: TusHooks,
    @Inject(TUS_S3_OPTIONS) private readonly options: ResolvedTusS3Options,
    private readonly locks: UploadLocks,
    private readonly writes: UploadWrites,
    private readonly rules: CreationRules,
    private readonly announcements: FinishedAnnouncements,
    private readonly expiry: UploadExpiry,
  ) {}

  async handle(req: TusRequest, res: ServerResponse, uploadId: string): Promise<void> {
    if (!isOffsetStream(req)) throw TusErrors.unsupportedMediaType();
    const offsetHeader = tusHeader(req, 'Upload-Offset');
    if (offsetHeader === undefined) throw TusErrors.badRequest('Upload-Offset header is required');
    const offset = parseNonNegativeInteger('Upload-Offset', offsetHeader);
    const lengthHeader = tusHeader(req, 'Upload-Length');
    const newLength = lengthHeader === undefined ? undefined : parseNonNegativeInteger('Upload-Length', lengthHeader);
    const contentLength = parseContentLength(req);
    const checksum = this.rules.checksumOf(req);

    const { before, after, outcome } = await this.locks.withLock(
      uploadId,
      async (lock) => {
        let upload = await this.store.get(uploadId, lock);
        await this.hooks.onUploadRequest?.({ req, upload, kind: 'patch' });
        this.expiry.assertLive(upload);
        if (upload.concat?.kind === 'final') {
          throw TusErrors.forbidden('a final upload is assembled from its partial uploads and cannot be patched');
        }
        if (offset !== upload.offset) throw TusErrors.offsetMismatch(upload.offset, offset);
        // Every check comes before the first write: a refused PATCH changes nothing, not even a deferred length.
        const size = newLength === undefined ? upload.size : this.acceptableLength(upload, newLength);
        const limit = size ?? this.sizeLimitOf(upload);
        if (contentLength !== undefined && offset + contentLength > limit) {
          throw TusErrors.tooLarge(
            `the body would take the upload to ${offset + contentLength} bytes, past its length ${limit}`,
          );
        }
        if (offset === size) {
          const body = await this.writes.whileArriving(req, () => bodyHasBytes(req, contentLength, lock.signal));
          if (body === 'bytes')
            throw TusErrors.tooLarge('the upload is already complete: no more bytes can be appended');
          // The client went away, or another request asked for the upload: nobody reads the rest of this body.
          if (body === 'unknown') res.setHeader('Connection', 'close');
        }
        const unfinished = upload;
        if (size !== null && size !== upload.size) {
          const declaring = upload;
          upload = await this.writes.gatingFinish(req, declaring, lock, 'patch', (beforeFinish) =>
            this.store.declareLength(declaring, size, lock, beforeFinish),
          );
          if (isFinished(upload)) await this.writes.noteFinished(upload);
        }
        if (isFinished(upload)) return { before: unfinished, after: upload, outcome: undefined };
        const written: WriteOutcome = await this.writes.append(req, upload, lock, {
          sizeLimit: this.sizeLimitOf(upload),
          kind: 'patch',
          checksum,
        });
        return { before: unfinished, after: written.upload, outcome: written };
      },
      ({ before, after }) => this.writes.keepsLock(before, after),
    );

    if (!isFinished(before) && isFinished(after)) await this.writes.announce(after);
    else if (isFinished(after)) void this.announcements.resume(after);
    if (outcome) return this.writes.answer(req, res, outcome);
    send(res, 204, { 'Upload-Offset': after.offset, 'Upload-Expires': uploadExpiresHeader(after) });
  }

  private sizeLimitOf(upload: Upload): number {
    return Math.min(upload.sizeLimit ?? Infinity, this.options.maxSize);
  }

  /** The length a PATCH may declare for an upload whose length was deferred (and once set, only that again). */
  private acceptableLength(upload: Upload, size: number): number {
    if (upload.size !== null) {
      if (upload.size === size) return size;
      throw TusErrors.badRequest(`Upload-Length is already ${upload.size} and cannot change`);
    }
    const limit = this.sizeLimitOf(upload);
    if (size > limit) throw TusErrors.tooLarge(`Upload-Length ${size} exceeds the ${limit} bytes this upload may hold`);
    if (size < upload.offset)
      throw TusErrors.badRequest(`Upload-Length ${size} is less than the bytes already received`);
    return size;
  }
}
