export class UploadNotFoundError extends Error {
  constructor(readonly uploadId: string) {
    super(`upload ${uploadId} not found`);
    this.name = 'UploadNotFoundError';
  }
}

/** An upload was to be created under an id that is taken. */
export class UploadExistsError extends Error {
  constructor(readonly uploadId: string) {
    super(`upload ${uploadId} exists already`);
    this.name = 'UploadExistsError';
  }
}

/** S3 failed us (not the client): the request can be retried later. */
export class StorageError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'StorageError';
  }
}

/**
 * Held-back bytes the journal counts on are gone: a run not in Redis (any more: trimmed or dropped meanwhile, or lost
 * by Redis), or a chunk object not in S3 (deleted by something else, or listed by an instance that did not check it).
 */
export class HeldBytesMissingError extends StorageError {
  constructor(where: 'Redis' | 'S3') {
    super(`held-back bytes are missing from ${where}; send HEAD and resume`);
    this.name = 'HeldBytesMissingError';
  }
}

/** An upload created with `holdBackIn: 'redis'` reached an instance configured without it. */
export function heldInRedisNotConfigured(uploadId: string): StorageError {
  return new StorageError(
    `upload ${uploadId} keeps held-back bytes in Redis, but holdBackIn 'redis' is not configured here`,
  );
}

/** Whether `error` is, or was caused by, a HeldBytesMissingError (a body that failed while reading the run). */
export function isHeldBytesMissing(error: unknown): boolean {
  return (
    error instanceof HeldBytesMissingError ||
    (error instanceof StorageError && error.cause instanceof HeldBytesMissingError)
  );
}

/** The fields the SDK and Node put on a failure of an S3 request, as far as it has them. */
export interface S3Failure {
  /** The SDK's error name (usually S3's code). */
  name?: string;
  /** S3's error code, as some services and older SDK paths give it. */
  Code?: string;
  /** Node's code for a failed connection (ECONNRESET, ...). */
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/** `error` seen as an S3 request failure, or undefined when it is not even an object. */
export function asS3Failure(error: unknown): S3Failure | undefined {
  return typeof error === 'object' && error !== null ? error : undefined;
}

/**
 * Missing things come back in several shapes: NoSuchKey / NoSuchUpload by name, Ceph's NoSuchKey for a missing
 * multipart upload, or a bare 404 for HEAD requests (which have no body to carry a code).
 */
export function isS3NotFound(error: unknown): boolean {
  const e = asS3Failure(error);
  const name = e?.name ?? e?.Code;
  return name === 'NoSuchKey' || name === 'NoSuchUpload' || name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

/** A service that does not implement an operation (optional ones, e.g. DeleteObjects, on some S3-compatible servers). */
export function isS3NotImplemented(error: unknown): boolean {
  const e = asS3Failure(error);
  const name = e?.name ?? e?.Code;
  return name === 'NotImplemented' || name === 'MethodNotAllowed' || e?.$metadata?.httpStatusCode === 501;
}
