import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import {
  TusEvents,
  UploadCreatedEvent,
  UploadFinishedEvent,
  UploadProgressEvent,
  UploadTerminatedEvent,
} from '../events/tus-events';
import { Locker, LockInterruptedError, LockTimeoutError, LockUnavailableError, UploadLock } from '../locker/locker.interface';
import { parseDeclaredLength, parseNonNegativeInteger, singleHeader } from '../protocol/headers';
import { parseUploadConcat } from '../protocol/concat';
import { parseMetadata } from '../protocol/metadata';
import { parseRange } from '../protocol/range';
import { OFFSET_OCTET_STREAM, TUS_EXTENSIONS, TUS_RESUMABLE, TUS_VERSION } from '../protocol/tus-constants';
import { TusError, TusErrors } from '../protocol/tus-error';
import { contentTypeOf } from '../protocol/content-type';
import { isValidUploadId } from '../protocol/upload-id';
import { isFinished, ObjectLocation, supportsConcatenation, supportsFinishedCopy, TusDataStore, Upload } from '../store/tus-data-store';
import { contentDispositionOf } from './content-disposition';
import { isHeldBytesMissing, StorageError, UploadNotFoundError } from '../store/store-errors';
import { TUS_LOCKER, TUS_S3_OPTIONS, TUS_STORE } from '../tus-s3.constants';
import type { ResolvedTusS3Options } from '../tus-s3.options';
import { applyCors } from './cors';
import { send } from './tus-response';

type Method = 'OPTIONS' | 'POST' | 'HEAD' | 'PATCH' | 'DELETE' | 'GET';
const METHODS: readonly string[] = ['OPTIONS', 'POST', 'HEAD', 'PATCH', 'DELETE', 'GET'];

/**
 * The tus 1.0.0 protocol over Node's request and response: header rules, locking, store calls and events. The
 * controller only routes; everything a tus client can observe is decided here.
 */
@Injectable()
export class TusService {
  private readonly logger = new Logger('TusS3');

  constructor(
    @Inject(TUS_STORE) private readonly store: TusDataStore,
    @Inject(TUS_LOCKER) private readonly locker: Locker,
    @Inject(TUS_S3_OPTIONS) private readonly options: ResolvedTusS3Options,
    @Optional() private readonly events?: EventEmitter2,
  ) {}

  /** `uploadId` is undefined for the collection URL (where POST creates uploads). */
  async handle(req: IncomingMessage, res: ServerResponse, uploadId: string | undefined): Promise<void> {
    const method = effectiveMethod(req);
    const isHead = method === 'HEAD';
    try {
      if (applyCors(req, res, this.options.cors)) return send(res, 204, {});
      if (method === 'OPTIONS') return this.capabilities(res);
      if (method !== 'GET') checkTusResumable(req);
      if (uploadId === undefined) {
        if (method === 'POST') return await this.create(req, res);
        throw TusErrors.methodNotAllowed('POST, OPTIONS');
      }
      switch (method) {
        case 'HEAD':
          return await this.head(res, uploadId);
        case 'PATCH':
          return await this.patch(req, res, uploadId);
        case 'DELETE':
          return await this.terminate(res, uploadId);
        case 'GET':
          return await this.download(req, res, uploadId);
        default:
          throw TusErrors.methodNotAllowed('HEAD, PATCH, DELETE, GET, OPTIONS');
      }
    } catch (error) {
      this.sendError(req, res, error, isHead);
    }
  }

  /** OPTIONS: what this server supports. */
  private capabilities(res: ServerResponse): void {
    send(res, 204, {
      'Tus-Version': TUS_VERSION,
      'Tus-Extension': TUS_EXTENSIONS.join(','),
      'Tus-Max-Size': this.options.maxSize,
    });
  }

  private async create(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const concatHeader = singleHeader('Upload-Concat', req.headers['upload-concat']);
    const concat = parseUploadConcat(concatHeader);
    if (concat?.kind === 'final') return this.createFinal(req, res, concat.uploadIds, concatHeader!.trim());
    const declared = parseDeclaredLength(
      singleHeader('Upload-Length', req.headers['upload-length']),
      singleHeader('Upload-Defer-Length', req.headers['upload-defer-length']),
    );
    const size = declared.kind === 'known' ? declared.size : null;
    if (size !== null && size > this.options.maxSize) {
      throw TusErrors.tooLarge(`Upload-Length ${size} exceeds Tus-Max-Size ${this.options.maxSize}`);
    }
    const metadataHeader = singleHeader('Upload-Metadata', req.headers['upload-metadata']) ?? '';
    const metadata = parseMetadata(metadataHeader);
    const withBody = isOffsetStream(req) && hasBody(req);
    const contentLength = withBody ? parseContentLength(req) : undefined;
    if (withBody && contentLength !== undefined && contentLength > (size ?? this.options.maxSize)) {
      throw TusErrors.tooLarge(`the body (${contentLength} bytes) is longer than Upload-Length`);
    }

    const info = await this.store.create({ size, metadataHeader: metadataHeader.trim(), metadata, concat });
    this.emit(TusEvents.UploadCreated, new UploadCreatedEvent(info));
    const location = this.locationOf(req, info.id);
    if (!withBody) {
      if (isFinished(info)) await this.announceFinished(info);
      return send(res, 201, { Location: location, 'Upload-Offset': size === 0 ? 0 : undefined });
    }
    const lock = await this.locker.lock(info.id);
    try {
      await this.appendBody(req, res, info, lock, location);
    } catch (error) {
      // The client never learns this upload's URL when creation fails: leave nothing of it behind.
      await this.store
        .get(info.id, lock)
        .then((saved) => this.store.terminate(saved, lock))
        .catch((cleanup: unknown) => this.logger.warn(`could not remove failed upload ${info.id}: ${describe(cleanup)}`));
      throw error;
    } finally {
      await lock.release();
    }
  }

  private async head(res: ServerResponse, uploadId: string): Promise<void> {
    const info = await this.withLock(uploadId, (lock) => this.store.get(uploadId, lock).finally(() => lock.release()));
    send(
      res,
      200,
      {
        'Upload-Offset': info.offset,
        'Upload-Length': info.size ?? undefined,
        'Upload-Defer-Length': info.size === null ? 1 : undefined,
        'Upload-Metadata': info.metadataHeader || undefined,
        'Upload-Concat': info.concat ? (info.concat.kind === 'partial' ? 'partial' : info.concat.header) : undefined,
        'Cache-Control': 'no-store',
      },
      undefined,
      true,
    );
  }

  private async patch(req: IncomingMessage, res: ServerResponse, uploadId: string): Promise<void> {
    if (!isOffsetStream(req)) throw TusErrors.unsupportedMediaType();
    const offsetHeader = singleHeader('Upload-Offset', req.headers['upload-offset']);
    if (offsetHeader === undefined) throw TusErrors.badRequest('Upload-Offset header is required');
    const offset = parseNonNegativeInteger('Upload-Offset', offsetHeader);
    const lengthHeader = singleHeader('Upload-Length', req.headers['upload-length']);
    const newLength = lengthHeader === undefined ? undefined : parseNonNegativeInteger('Upload-Length', lengthHeader);
    const contentLength = parseContentLength(req);

    await this.withLock(uploadId, async (lock) => {
      try {
        let info = await this.store.get(uploadId, lock);
        if (info.concat?.kind === 'final') throw TusErrors.forbidden('a final upload is assembled from its partial uploads and cannot be patched');
        const current = info.offset;
        if (offset !== current) throw TusErrors.offsetMismatch(current, offset);
        // Every check comes before the first write: a refused PATCH changes nothing, not even a deferred length.
        const size = newLength === undefined ? info.size : this.acceptableLength(info, newLength);
        const limit = size ?? this.options.maxSize;
        if (contentLength !== undefined && current + contentLength > limit) {
          throw TusErrors.tooLarge(`the body would take the upload to ${current + contentLength} bytes, past its length ${limit}`);
        }
        if (current === size && (await bodyHasBytes(req, contentLength))) {
          throw TusErrors.tooLarge('the upload is already complete: no more bytes can be appended');
        }
        if (size !== null && size !== info.size) {
          info = await this.store.declareLength(info, size, lock);
          if (isFinished(info)) await this.announceFinished(info);
        }
        if (isFinished(info)) return send(res, 204, { 'Upload-Offset': current });
        await this.appendBody(req, res, info, lock);
      } finally {
        await lock.release();
      }
    });
  }

  /**
   * Streams the body into the store and answers. Every outcome saves what arrived first: a client that went away,
   * a release request from another instance, a body longer than allowed, even an S3 failure part-way.
   */
  private async appendBody(
    req: IncomingMessage,
    res: ServerResponse,
    info: Upload,
    lock: UploadLock,
    createdLocation?: string,
  ): Promise<void> {
    const before = info.offset;
    const maxBytes = (info.size ?? this.options.maxSize) - before;
    const outcome = await this.store.write(info, req, lock, { maxBytes, expectedBytes: parseContentLength(req) });
    const after = outcome.upload.offset;
    if (after > before) this.emit(TusEvents.UploadProgress, new UploadProgressEvent(outcome.upload, after));
    if (outcome.failure) throw outcome.failure;
    const tooLarge = outcome.stop === 'too-large';
    // A creation that fails is removed by the caller, so only a PATCH may go on when its body was too long.
    if (tooLarge && createdLocation) throw TusErrors.tooLarge(`the body is longer than Upload-Length`);
    // Answer-side work (copying, listeners) must not keep other requests of this upload waiting.
    await lock.release();
    if (isFinished(outcome.upload)) await this.announceFinished(outcome.upload);
    if (tooLarge) throw TusErrors.tooLarge(`the body goes past the upload's length; stored up to offset ${after}`);

    const headers = { 'Upload-Offset': after, Location: createdLocation };
    if (outcome.stop !== 'end') {
      // The body was cut short (client gone, or another request took over): nobody reads the rest of it.
      res.setHeader('Connection', 'close');
      res.once('finish', () => req.destroy());
    }
    send(res, createdLocation ? 201 : 204, headers);
  }

  /**
   * Concatenation: a new upload made of finished partial uploads, in order. Their locks are held while the bytes are
   * copied (so none is terminated half-way); the final upload is complete when the answer goes out.
   */
  private async createFinal(req: IncomingMessage, res: ServerResponse, uploadIds: string[], header: string): Promise<void> {
    if (req.headers['upload-length'] !== undefined || req.headers['upload-defer-length'] !== undefined) {
      throw TusErrors.badRequest('a final upload takes its length from its partial uploads: send no Upload-Length');
    }
    if (hasBody(req)) throw TusErrors.badRequest('a final upload cannot carry data: send it in the partial uploads');
    const metadataHeader = singleHeader('Upload-Metadata', req.headers['upload-metadata']) ?? '';
    const metadata = parseMetadata(metadataHeader);
    const locks: UploadLock[] = [];
    try {
      const partials: Upload[] = [];
      for (const id of uploadIds) {
        if (!partials.some((p) => p.id === id)) locks.push(await this.locker.lock(id));
        partials.push(await this.finishedPartial(id));
      }
      const size = partials.reduce((sum, p) => sum + (p.size ?? 0), 0);
      if (size > this.options.maxSize) throw TusErrors.tooLarge(`the partial uploads add up to ${size} bytes, above Tus-Max-Size ${this.options.maxSize}`);

      let info = await this.store.create({ size, metadataHeader: metadataHeader.trim(), metadata, concat: { kind: 'final', uploadIds, header } });
      this.emit(TusEvents.UploadCreated, new UploadCreatedEvent(info));
      if (!isFinished(info)) {
        const lock = await this.locker.lock(info.id);
        locks.push(lock);
        if (!supportsConcatenation(this.store)) throw TusErrors.badRequest('this store does not support concatenation');
        const outcome = await this.store.concatenate(info, partials, lock);
        if (outcome.failure || !isFinished(outcome.upload)) {
          await this.store.terminate(outcome.upload, lock).catch(() => undefined);
          throw outcome.failure ?? new StorageError('the partial uploads could not be read to the end');
        }
        info = outcome.upload;
      }
      await Promise.all(locks.map((l) => l.release()));
      await this.announceFinished(info);
      send(res, 201, { Location: this.locationOf(req, info.id) });
    } finally {
      await Promise.all(locks.map((l) => l.release()));
    }
  }

  private async finishedPartial(id: string): Promise<Upload> {
    const info = await this.store.get(id).catch((error: unknown) => {
      if (error instanceof UploadNotFoundError) throw TusErrors.badRequest(`Upload-Concat: partial upload ${id} was not found`);
      throw error;
    });
    if (info.concat?.kind !== 'partial') throw TusErrors.badRequest(`Upload-Concat: upload ${id} was not created as a partial upload`);
    if (!isFinished(info)) throw TusErrors.badRequest(`Upload-Concat: partial upload ${id} is not finished yet`);
    return info;
  }

  /** The length a PATCH may declare for an upload whose length was deferred (and once set, only that again). */
  private acceptableLength(info: Upload, size: number): number {
    if (info.size !== null) {
      if (info.size === size) return size;
      throw TusErrors.badRequest(`Upload-Length is already ${info.size} and cannot change`);
    }
    if (size > this.options.maxSize) throw TusErrors.tooLarge(`Upload-Length ${size} exceeds Tus-Max-Size ${this.options.maxSize}`);
    if (size < info.offset) throw TusErrors.badRequest(`Upload-Length ${size} is less than the bytes already received`);
    return size;
  }

  private async terminate(res: ServerResponse, uploadId: string): Promise<void> {
    const info = await this.withLock(uploadId, async (lock) => {
      try {
        const found = await this.store.get(uploadId, lock);
        await this.store.terminate(found, lock);
        return found;
      } finally {
        await lock.release();
      }
    });
    this.emit(TusEvents.UploadTerminated, new UploadTerminatedEvent(info));
    send(res, 204, {});
  }

  private async download(req: IncomingMessage, res: ServerResponse, uploadId: string): Promise<void> {
    let info = await this.store.get(uploadId);
    if (!isFinished(info)) {
      // It may be finishing right now: look again under the lock before refusing.
      info = await this.withLock(uploadId, (lock) => this.store.get(uploadId, lock).finally(() => lock.release()));
      if (!isFinished(info)) throw TusErrors.badRequest('the upload is not finished yet; only finished uploads can be downloaded');
    }
    const size = info.size ?? 0;
    const range = parseRange(singleHeader('Range', req.headers.range), size);
    if (range.kind === 'unsatisfiable') {
      return send(res, 416, { 'Content-Range': `bytes */${size}` }, 'the requested range is outside the upload');
    }
    const { mime, inlineSafe } = contentTypeOf(info.metadata);
    const disposition = contentDispositionOf(info.metadata, inlineSafe);
    const content = await this.store.read(info, range.kind === 'partial' ? range : undefined);
    res.statusCode = range.kind === 'partial' ? 206 : 200;
    res.setHeader('Tus-Resumable', TUS_RESUMABLE);
    res.setHeader('Content-Type', mime);
    res.setHeader('Content-Length', content.contentLength);
    res.setHeader('Content-Disposition', disposition);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Accept-Ranges', 'bytes');
    if (range.kind === 'partial') res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
    // pipeline() also ends the S3 response when the client goes away, so no S3 connection is left hanging.
    await pipeline(content.body, res).catch(() => undefined);
  }

  private async announceFinished(info: Upload): Promise<void> {
    let copy: ObjectLocation | undefined;
    if (supportsFinishedCopy(this.store)) {
      try {
        copy = await this.store.copyFinished(info);
      } catch (error) {
        this.logger.error(`copying upload ${info.id} failed: ${(error as Error).message}`);
      }
    }
    this.emit(TusEvents.UploadFinished, new UploadFinishedEvent(info, info.location, copy));
  }

  private async withLock<T>(uploadId: string, work: (lock: UploadLock) => Promise<T>): Promise<T> {
    // An id we would never have issued cannot be locked, read or written: say 404 before touching Redis or S3.
    if (!isValidUploadId(uploadId)) throw new UploadNotFoundError(uploadId);
    return work(await this.locker.lock(uploadId));
  }

  private emit(name: string, event: object): void {
    try {
      this.events?.emit(name, event);
    } catch (error) {
      this.logger.error(`a listener of ${name} threw: ${(error as Error).message}`);
    }
  }

  private locationOf(req: IncomingMessage, id: string): string {
    const url = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    const path = url.split('?')[0].replace(/\/+$/, '');
    const forwarded = this.options.trustProxy;
    const proto =
      (forwarded && singleHeader('X-Forwarded-Proto', req.headers['x-forwarded-proto'])?.split(',')[0].trim()) ||
      ((req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http');
    const host =
      (forwarded && singleHeader('X-Forwarded-Host', req.headers['x-forwarded-host'])?.split(',')[0].trim()) ||
      req.headers.host;
    return host ? `${proto}://${host}${path}/${id}` : `${path}/${id}`;
  }

  private sendError(req: IncomingMessage, res: ServerResponse, error: unknown, isHead: boolean): void {
    const tus = toTusError(error);
    if (tus.status >= 500) this.logger.error(`${req.method} ${req.url}: ${describe(error)}`);
    // A body we refused may still be arriving: close the connection rather than read megabytes to discard them.
    if (hasBody(req) && !req.readableEnded) res.setHeader('Connection', 'close');
    send(res, tus.status, tus.headers, tus.message, isHead);
  }
}

function toTusError(error: unknown): TusError {
  if (error instanceof TusError) return error;
  if (error instanceof UploadNotFoundError) return TusErrors.notFound();
  if (error instanceof LockTimeoutError) return TusErrors.locked();
  if (error instanceof LockUnavailableError) return TusErrors.unavailable('the lock service is unavailable; retry later');
  if (error instanceof LockInterruptedError) return TusErrors.unavailable('the upload lock was lost; send HEAD and resume');
  if (isHeldBytesMissing(error)) return TusErrors.unavailable('bytes held for this upload were lost; send HEAD and resume from its offset');
  if (error instanceof StorageError) return TusErrors.unavailable('the storage is unavailable; send HEAD and resume later');
  return new TusError(500, 'internal error');
}

function describe(error: unknown): string {
  if (error instanceof StorageError && error.cause) return `${error.message}: ${describe(error.cause)}`;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function effectiveMethod(req: IncomingMessage): Method | string {
  const override = singleHeaderSafe(req.headers['x-http-method-override']);
  const method = (override ?? req.method ?? 'GET').toUpperCase();
  return METHODS.includes(method) ? (method as Method) : method;
}

function singleHeaderSafe(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function checkTusResumable(req: IncomingMessage): void {
  const version = singleHeaderSafe(req.headers['tus-resumable']);
  if (version !== TUS_RESUMABLE) throw TusErrors.unsupportedVersion(version);
}

function isOffsetStream(req: IncomingMessage): boolean {
  const type = singleHeaderSafe(req.headers['content-type']);
  return type?.split(';')[0].trim().toLowerCase() === OFFSET_OCTET_STREAM;
}

function hasBody(req: IncomingMessage): boolean {
  const length = singleHeaderSafe(req.headers['content-length']);
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length.trim() !== '0');
}

/**
 * Whether a body carries any byte. With Content-Length that is known up front; a chunked body is read until its
 * first byte (then paused: the connection is closed after the answer) or its end.
 */
function bodyHasBytes(req: IncomingMessage, contentLength: number | undefined): Promise<boolean> {
  if (contentLength !== undefined) return Promise.resolve(contentLength > 0);
  if (!hasBody(req)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (hasBytes: boolean) => {
      req.off('data', onData).off('end', onEnd).off('error', onEnd);
      if (hasBytes) req.pause();
      resolve(hasBytes);
    };
    const onData = (chunk: Buffer) => chunk.length > 0 && done(true);
    const onEnd = () => done(false);
    req.on('data', onData).once('end', onEnd).once('error', onEnd);
  });
}

function parseContentLength(req: IncomingMessage): number | undefined {
  const length = singleHeaderSafe(req.headers['content-length']);
  return length === undefined ? undefined : parseNonNegativeInteger('Content-Length', length);
}
