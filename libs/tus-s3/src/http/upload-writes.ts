import type { ServerResponse } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import type { UploadLock } from '../locker/locker.interface';
import { UploadEvents } from '../events/upload-events';
import { TUS_HOOKS, TUS_S3_OPTIONS, TUS_STORE } from '../tus-s3.constants';
import type { ResolvedTusS3Options } from '../tus-s3.options';
import type { TusHooks } from '../hooks/tus-hooks';
import { TusErrors } from '../protocol/tus-error';
import { TusDataStore, Upload, WriteOutcome } from '../store/tus-data-store';
import { parseContentLength, TusRequest } from './request';
import { send } from './tus-response';
import { uploadExpiresHeader } from './upload-expiry';
import { UploadLocks } from './upload-locks';

/**
 * What creation-with-upload and PATCH share: streaming a body into the store under the lock, and once the lock is
 * released, finishing and answering.
 */
@Injectable()
export class UploadWrites {
  constructor(
    @Inject(TUS_STORE) private readonly store: TusDataStore,
    @Inject(TUS_HOOKS) private readonly hooks: TusHooks,
    @Inject(TUS_S3_OPTIONS) private readonly options: ResolvedTusS3Options,
    private readonly locks: UploadLocks,
    private readonly events: UploadEvents,
  ) {}

  /**
   * Streams the body into the store; the caller holds the lock. Every outcome saves what arrived first: a client
   * that went away, a release request from another instance, a body longer than allowed, even a storage failure
   * part-way (which is then thrown).
   */
  async append(req: TusRequest, upload: Upload, lock: UploadLock, sizeLimit: number): Promise<WriteOutcome> {
    const maxBytes = (upload.size ?? sizeLimit) - upload.offset;
    const outcome = await this.whileArriving(req, () =>
      this.store.write(upload, req, lock, { maxBytes, expectedBytes: parseContentLength(req) }),
    );
    if (outcome.upload.offset > upload.offset) this.events.progress(outcome.upload);
    if (outcome.failure) throw outcome.failure;
    return outcome;
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

  /**
   * An upload whose last byte just arrived, after its lock was released: the app's `beforeFinish` may still refuse
   * it (then it is terminated, leaving nothing behind); otherwise it is copied and announced.
   */
  async finished(req: TusRequest, upload: Upload): Promise<void> {
    try {
      await this.hooks.beforeFinish?.({ req, upload, kind: 'patch' });
    } catch (refusal) {
      await this.locks.withLock(upload.id, async (lock) => this.store.terminate(await this.store.get(upload.id, lock), lock));
      this.events.terminated(upload);
      throw refusal;
    }
    await this.events.finished(upload);
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
