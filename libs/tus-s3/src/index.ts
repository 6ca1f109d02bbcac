export { TusS3Module } from './tus-s3.module';
export { TUS_S3_MODULE_OPTIONS, TUS_S3_OPTIONS_TYPE, TUS_S3_ASYNC_OPTIONS_TYPE } from './tus-s3.module-definition';
export type { TusS3ModuleOptions, TusS3ModuleExtras, ResolvedTusS3Options } from './tus-s3.options';
export { TusS3OptionsError } from './tus-s3.options';
export {
  TUS_S3_CLIENT,
  TUS_S3_STORE,
  TUS_LOCKER,
  TUS_S3_OPTIONS,
  TUS_CLOCK,
  TUS_ID_GENERATOR,
  TUS_REDIS_CLIENTS,
  TUS_HELD_BYTES,
} from './tus-s3.constants';
export type { Clock, IdGenerator } from './tus-s3.constants';
export { S3Store } from './store/s3-store';
export type { NewUpload, ByteRange, UploadContent, WriteOutcome } from './store/s3-store';
export type { UploadInfo, UploadedPart, PendingChunk } from './store/upload-info';
export { offsetOf, isFinished } from './store/upload-info';
export { UploadNotFoundError, StorageError } from './store/store-errors';
export { createS3Client } from './store/s3-client.factory';
export { RedisHeldBytes } from './store/redis-held-bytes';
export { TusService } from './http/tus.service';
export {
  TusEvents,
  UploadCreatedEvent,
  UploadProgressEvent,
  UploadFinishedEvent,
  UploadTerminatedEvent,
} from './events/tus-events';
export type { ObjectLocation } from './events/tus-events';
export type { Locker, UploadLock, LockInterruption } from './locker/locker.interface';
export { LockInterruptedError, LockTimeoutError, LockUnavailableError } from './locker/locker.interface';
export { MemoryLocker } from './locker/memory-locker';
export { RedlockLocker } from './locker/redlock-locker';
export type { LockOptions } from './locker/locker-options';
export { TusError } from './protocol/tus-error';
