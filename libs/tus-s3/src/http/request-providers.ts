import type { Provider } from '@nestjs/common';
import { FinishedAnnouncements } from './announcements';
import { CreationRules } from './creation-rules';
import { ConcatenationHandler } from './handlers/concatenation.handler';
import { CreationHandler } from './handlers/creation.handler';
import { DownloadHandler } from './handlers/download.handler';
import { HeadHandler } from './handlers/head.handler';
import { OptionsHandler } from './handlers/options.handler';
import { PatchHandler } from './handlers/patch.handler';
import { TerminationHandler } from './handlers/termination.handler';
import { TusRouter } from './tus-router';
import { UploadExpiry } from './upload-expiry';
import { UploadLocks } from './upload-locks';
import { UploadWrites } from './upload-writes';

/**
 * What answers tus requests: the router, a handler per request kind and the helpers they share. One list for the
 * module and for the handlers' test harness, so that neither misses a handler the other has.
 */
export const TUS_REQUEST_PROVIDERS: Provider[] = [
  UploadLocks,
  FinishedAnnouncements,
  UploadWrites,
  UploadExpiry,
  CreationRules,
  OptionsHandler,
  CreationHandler,
  ConcatenationHandler,
  HeadHandler,
  PatchHandler,
  TerminationHandler,
  DownloadHandler,
  TusRouter,
];
