import type { ServerResponse } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import { UploadEvents } from '../../events/upload-events';
import type { TusHooks } from '../../hooks/tus-hooks';
import { TusErrors } from '../../protocol/tus-error';
import { isFinished, TusDataStore } from '../../store/tus-data-store';
import { TUS_HOOKS, TUS_S3_OPTIONS, TUS_STORE } from '../../tus-s3.constants';
import type { ResolvedTusS3Options } from '../../tus-s3.options';
import { TusRequest } from '../request';
import { send } from '../tus-response';
import { UploadLocks } from '../upload-locks';

/** DELETE (the termination extension): removes every trace of an upload. */
@Injectable()
export class TerminationHandler {
  constructor(
    @Inject(TUS_STORE) private readonly store: TusDataStore,
    @Inject(TUS_HOOKS) private readonly hooks: TusHooks,
    @Inject(TUS_S3_OPTIONS) private readonly options: ResolvedTusS3Options,
    private readonly locks: UploadLocks,
    private readonly events: UploadEvents,
  ) {}

  async handle(req: TusRequest, res: ServerResponse, uploadId: string): Promise<void> {
    const upload = await this.locks.withLock(uploadId, async (lock) => {
      const found = await this.store.get(uploadId, lock);
      await this.hooks.onUploadRequest?.({ req, upload: found, kind: 'terminate' });
      if (isFinished(found) && !this.options.terminateFinished) {
        throw TusErrors.forbidden('finished uploads cannot be terminated here');
      }
      await this.hooks.beforeTerminate?.({ req, upload: found, kind: 'terminate' });
      await this.store.terminate(found, lock);
      return found;
    });
    this.events.terminated(upload);
    send(res, 204, {});
  }
}
