import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import type { UploadLock } from '../locker/locker.interface';
import { UploadEvents } from '../events/upload-events';
import { TUS_HOOKS, TUS_S3_OPTIONS, TUS_STORE } from '../tus-s3.constants';
import type { ResolvedTusS3Options } from '../tus-s3.options';
import type { TusHooks, UploadRequest } from '../hooks/tus-hooks';
import type { ExpectedChecksum } from '../protocol/checksum';
import { TusErrors } from '../protocol/tus-error';
import { BeforeFinish, isFinished, TusDataStore, Upload, WriteOutcome } from '../store/tus-data-store';
import { parseContentLength, TusRequest } from './request';
import { send } from './tus-response';
import { FinishedAnnouncements } from './announcements';
import { uploadExpiresHeader } from './upload-expiry';
import { UploadLocks } from './upload-locks';

/** What the app's `beforeFinish` threw, carried through the store call that asked it. */
class FinishRefused extends Error {
  constructor(readonly refusal: unknown) {
    super('beforeFinish refused the upload');
  }
}

/**
 * What creation-with-upload, PATCH and concatenation share: streaming a body into the store under the lock, the
 * app's `beforeFinish` before an upload counts as finished, announcing finished uploads, and answering.
 */
@Injectable()
export class UploadWrites {
  constructor(
    @Inject(TUS_STORE) private readonly store: TusDataStore,
    @Inject(TUS_HOOKS) private readonly hooks: TusHooks,
    @Inject(TUS_S3_OPTIONS) private readonly options: ResolvedTusS3Options,
    private readonly events: UploadEvents,
    private readonly locks: UploadLocks,
    private readonly announcements: FinishedAnnouncements,
  ) {}

  /**
   * Streams the body into the store; the caller holds the lock. Every outcome saves what arrived first: a client
   * that went away, a release request from another instance, a body longer than allowed, even a storage failure
   * part-way (which is then thrown). With a checksum, the body counts only if all of it arrived and matched.
   */
  async append(
    req: TusRequest,
    upload: Upload,
    lock: UploadLock,
    options: { sizeLimit: number; kind: UploadRequest['kind']; checksum?: ExpectedChecksum },
  ): Promise<WriteOutcome> {
    const maxBytes = (upload.size ?? options.sizeLimit) - upload.offset;
    const outcome = await this.gatingFinish(req, upload, lock, options.kind, (beforeFinish) =>
      this.whileArriving(req, () =>
        this.store.write(upload, req, lock, {
          maxBytes,
          expectedBytes: parseContentLength(req),
          checksum: options.checksum,
          beforeFinish,
          // Node's HTTP parser gives every chunk its own buffer, which only this read sees.
          releaseChunks: true,
        }),
      ),
    );
    if (isFinished(outcome.upload) && !isFinished(upload)) await this.noteFinished(outcome.upload);
    if (outcome.upload.offset > upload.offset) this.events.progress(outcome.upload);
    if (outcome.failure) throw outcome.failure;
    return outcome;
  }

  /**
   * Finishes an upload whose bytes are all stored but that is not finished: its instance died between storing the
   * last byte and finishing it (or completing it failed). The caller holds the lock; the app's `beforeFinish` is asked
   * again (a refusal terminates the upload and is thrown). Returns the upload, finished.
   */
  async finishStored(req: TusRequest, upload: Upload, lock: UploadLock, kind: UploadRequest['kind']): Promise<Upload> {
    const outcome = await this.gatingFinish(req, upload, lock, kind, (beforeFinish) =>
      this.store.write(upload, Readable.from([]), lock, { maxBytes: 0, expectedBytes: 0, beforeFinish }),
    );
    if (outcome.failure) throw outcome.failure;
    if (isFinished(outcome.upload)) await this.noteFinished(outcome.upload);
    return outcome.upload;
  }

  /**
   * Whether the request that wrote `after` (from `before`) should keep the upload's lock when it lets go (UploadLocks):
   * when the upload is unfinished, for its next request; when this request finished it, for the record of its
   * delivery (see FinishedAnnouncements.recordFollows).
   */
  keepsLock(before: Upload, after: Upload): boolean {
    if (!isFinished(after)) return true;
    return !isFinished(before) && this.announcements.recordFollows(after);
  }

  /** An upload a store call just finished, still under its lock: its delivery is noted as due (see announcements). */
  noteFinished(upload: Upload): Promise<void> {
    return this.announcements.noteFinished(upload);
  }

  /**
   * Runs a store call that may finish the upload, with the app's `beforeFinish` as its last word: the store asks
   * it once every byte is stored, before assembling the final object, under the caller's lock (so nobody reads the
   * upload meanwhile). A refusal terminates the upload, leaving nothing behind, and is thrown on to the client.
   */
  async gatingFinish<T>(
    req: TusRequest,
    upload: Upload,
    lock: UploadLock,
    kind: UploadRequest['kind'],
    work: (beforeFinish: BeforeFinish | undefined) => Promise<T>,
  ): Promise<T> {
    const hooks = this.hooks;
    const beforeFinish: BeforeFinish | undefined = hooks.beforeFinish
      ? async (finishing) => {
          try {
            await hooks.beforeFinish!({ req, upload: finishing, kind });
          } catch (refusal) {
            throw new FinishRefused(refusal);
          }
        }
      : undefined;
    try {
      return await work(beforeFinish);
    } catch (error) {
      if (!(error instanceof FinishRefused)) throw error;
      await this.store.terminate(await this.store.get(upload.id, lock), lock);
      this.events.terminated(upload);
      throw error.refusal;
    }
  }

  /** An upload that its creation finished (length 0): the app's `beforeFinish` still has its say, under the lock. */
  async finishedAtCreation(req: TusRequest, upload: Upload): Promise<void> {
    if (!this.hooks.beforeFinish) return;
    await this.locks.withLock(upload.id, (lock) =>
      this.gatingFinish(req, upload, lock, 'create', async (beforeFinish) => beforeFinish?.(upload)),
    );
  }

  /**
   * An upload that just finished, after its lock was released: copied where `copyOnFinish` says and announced, at
   * least once even across crashes (see FinishedAnnouncements).
   */
  announce(upload: Upload): Promise<void> {
    return this.announcements.deliver(upload);
  }

  /**
   * Runs a write while watching its body: one that sends nothing for `idleTimeoutMs` is destroyed, which the store
   * sees as a client gone away (it saves what arrived). The client is gone or stuck either way: nobody is answered.
   */
  async whileArriving<T>(req: TusRequest, write: () => Promise<T>): Promise<T> {
    const idleMs = this.options.idleTimeoutMs;
    if (idleMs === 0) return write();
    const onIdle = () => req.destroy();
    req.setTimeout(idleMs, onIdle);
    try {
      return await write();
    } finally {
      req.off('timeout', onIdle);
      req.socket?.setTimeout(0);
    }
  }

  /** Answers a write: 201 for a creation, 204 for a PATCH; 413 when the body went past the upload's length. */
  answer(req: TusRequest, res: ServerResponse, outcome: WriteOutcome, location?: string): void {
    if (outcome.stop === 'too-large') {
      throw TusErrors.tooLarge(`the body goes past the upload's length; stored up to offset ${outcome.upload.offset}`);
    }
    if (outcome.stop !== 'end') {
      // The body was cut short (client gone, or another request took over): nobody reads the rest of it.
      res.setHeader('Connection', 'close');
      res.once('finish', () => req.destroy());
    }
    send(res, location ? 201 : 204, {
      'Upload-Offset': outcome.upload.offset,
      Location: location,
      'Upload-Expires': uploadExpiresHeader(outcome.upload),
    });
  }
}
