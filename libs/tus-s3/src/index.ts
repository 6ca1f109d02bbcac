// The public API: what a host app needs to configure the module, listen to it, replace its collaborators and
// write its own store or locker. Everything else is internal and may change in any release.
export { TusS3Module } from './tus-s3.module';
export { TUS_S3_OPTIONS_TYPE, TUS_S3_ASYNC_OPTIONS_TYPE } from './tus-s3.module-definition';
export type { TusS3ModuleOptions, TusS3ModuleExtras, ResolvedTusS3Options } from './tus-s3.options';
export { TusS3OptionsError } from './tus-s3.options';
export {
  TUS_S3_CLIENT,
  TUS_STORE,
  TUS_LOCKER,
  TUS_S3_OPTIONS,
  TUS_CLOCK,
  TUS_ID_GENERATOR,
  TUS_REDIS_CLIENTS,
  TUS_METRICS,
} from './tus-s3.constants';
export type { Clock, IdGenerator } from './tus-s3.constants';

export type {
  TusDataStore,
  ConcatenationCapable,
  FinishedCopyCapable,
  AnnouncementCapable,
  DueAnnouncement,
  Upload,
  UploadConcat,
  NewUpload,
  ByteRange,
  UploadContent,
  WriteLimits,
  WriteOutcome,
  WriteStop,
  ObjectLocation,
} from './store/tus-data-store';
export { isFinished, supportsAnnouncements } from './store/tus-data-store';
export { S3Store } from './store/s3-store';
export { UploadNotFoundError, UploadExistsError, StorageError } from './store/store-errors';
export { createS3Client } from './store/s3-client.factory';

export {
  TusEvents,
  UploadCreatedEvent,
  UploadProgressEvent,
  UploadFinishedEvent,
  UploadTerminatedEvent,
} from './events/tus-events';

export type { Locker, UploadLock, LockInterruption, LockServiceStatus, LockerHooks } from './locker/locker.interface';
export { LockInterruptedError, LockTimeoutError, LockUnavailableError } from './locker/locker.interface';
export { MemoryLocker } from './locker/memory-locker';
export { RedlockLocker } from './locker/redlock-locker';
export type { LockOptions } from './locker/locker-options';

export type { TusHooks, CreationRequest, CreationDecision, UploadRequest } from './hooks/tus-hooks';
export { TusHookRefusal } from './hooks/tus-hooks';

export { TusError } from './protocol/tus-error';
export { TUS_RESUMABLE, TUS_VERSION, TUS_REQUEST_HEADERS, TUS_EXPOSED_HEADERS } from './protocol/tus-constants';
export { TusHealthIndicator } from './health/tus-health.indicator';
export type { TusHealthCheckOptions, TusHealthResult } from './health/tus-health.indicator';
export { TusMetrics, TUS_METRIC_NAMES } from './metrics/tus-metrics';
export type { TusMetricsOptions, MetricsRegistry, S3CallOutcome, LockWaitOutcome } from './metrics/tus-metrics';
export { MeasuredLocker } from './metrics/measured-locker';
export { TusSweeper } from './lifecycle/tus-sweeper';
export type { SweepReport } from './store/expiry-sweeper';
