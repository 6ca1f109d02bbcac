import { HttpException, Logger } from '@nestjs/common';
import { LockInterruptedError, LockTimeoutError, LockUnavailableError } from '../locker/locker.interface';
import { TusError, TusErrors } from '../protocol/tus-error';
import { isHeldBytesMissing, StorageError, UploadNotFoundError } from '../store/store-errors';
import { TusHookRefusal } from '../hooks/tus-hooks';
import { ChecksumMismatchError } from '../store/body-checksum';
import { hasBody, TusRequest } from './request';
import type { ServerResponse } from 'node:http';
import { send } from './tus-response';

const logger = new Logger('TusS3');

/** What the client sees for a failure: the tus status and a message saying what to do. */
export function toTusError(error: unknown): TusError {
  if (error instanceof TusError) return error;
  if (error instanceof TusHookRefusal) return new TusError(error.status, error.message);
  if (error instanceof HttpException) return new TusError(error.getStatus(), messageOf(error));
  if (error instanceof UploadNotFoundError) return TusErrors.notFound();
  if (error instanceof ChecksumMismatchError) return TusErrors.checksumMismatch(error.algorithm);
  if (error instanceof LockTimeoutError) return TusErrors.locked();
  if (error instanceof LockUnavailableError)
    return TusErrors.unavailable('the lock service is unavailable; retry later');
  if (error instanceof LockInterruptedError)
    return TusErrors.unavailable('the upload lock was lost; send HEAD and resume');
  if (isHeldBytesMissing(error))
    return TusErrors.unavailable('bytes held for this upload were lost; send HEAD and resume from its offset');
  if (error instanceof StorageError)
    return TusErrors.unavailable('the storage is unavailable; send HEAD and resume later');
  return new TusError(500, 'internal error');
}

/** Answers a failed request; 5xx are logged with their cause, never with the body. */
export function sendError(req: TusRequest, res: ServerResponse, error: unknown, uploadId?: string): void {
  const tus = toTusError(error);
  const refusal = error instanceof TusHookRefusal || error instanceof HttpException;
  if (tus.status >= 500 && !refusal)
    logger.error(`${req.method} ${uploadId ? `upload ${uploadId}` : 'collection'}: ${describe(error)}`);
  // A body we refused may still be arriving: close the connection rather than read megabytes to discard them.
  if (hasBody(req) && !req.readableEnded) res.setHeader('Connection', 'close');
  send(res, tus.status, tus.headers, tus.message, req.method === 'HEAD');
}

export function describe(error: unknown): string {
  if (error instanceof StorageError && error.cause) return `${error.message}: ${describe(error.cause)}`;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function messageOf(error: HttpException): string {
  const response = error.getResponse();
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown }).message;
  return Array.isArray(message) ? message.join('; ') : typeof message === 'string' ? message : error.message;
}
