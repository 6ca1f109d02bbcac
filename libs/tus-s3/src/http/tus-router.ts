import type { ServerResponse } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import { TUS_S3_OPTIONS } from '../tus-s3.constants';
import type { ResolvedTusS3Options } from '../tus-s3.options';
import { TusErrors } from '../protocol/tus-error';
import { sendError } from './errors';
import { ConcatenationHandler } from './handlers/concatenation.handler';
import { CreationHandler } from './handlers/creation.handler';
import { DownloadHandler } from './handlers/download.handler';
import { HeadHandler } from './handlers/head.handler';
import { OptionsHandler } from './handlers/options.handler';
import { PatchHandler } from './handlers/patch.handler';
import { TerminationHandler } from './handlers/termination.handler';
import { checkTusResumable, TusRequest } from './request';

/**
 * Sends each tus request to the handler of its kind and turns every failure into a tus answer. The method is the
 * effective one: `X-HTTP-Method-Override` was applied before the app's guards ran (see TusRequestMiddleware).
 */
@Injectable()
export class TusRouter {
  constructor(
    @Inject(TUS_S3_OPTIONS) private readonly settings: ResolvedTusS3Options,
    private readonly options: OptionsHandler,
    private readonly creation: CreationHandler,
    private readonly concatenation: ConcatenationHandler,
    private readonly head: HeadHandler,
    private readonly patch: PatchHandler,
    private readonly termination: TerminationHandler,
    private readonly download: DownloadHandler,
  ) {}

  /** `uploadId` is undefined for the collection URL (where POST creates uploads). */
  async handle(req: TusRequest, res: ServerResponse, uploadId: string | undefined): Promise<void> {
    try {
      const method = req.method ?? 'GET';
      if (method === 'OPTIONS') return this.options.handle(res);
      if (method !== 'GET') checkTusResumable(req);
      if (uploadId === undefined) {
        const creates = this.settings.extensions.has('creation');
        if (method !== 'POST' || !creates) throw TusErrors.methodNotAllowed(creates ? 'POST, OPTIONS' : 'OPTIONS');
        if (ConcatenationHandler.isFinal(req)) return await this.concatenation.handle(req, res);
        return await this.creation.handle(req, res);
      }
      switch (method) {
        case 'HEAD':
          return await this.head.handle(req, res, uploadId);
        case 'PATCH':
          return await this.patch.handle(req, res, uploadId);
        case 'DELETE':
          if (!this.settings.extensions.has('termination'))
            throw TusErrors.methodNotAllowed('HEAD, PATCH, GET, OPTIONS');
          return await this.termination.handle(req, res, uploadId);
        case 'GET':
          return await this.download.handle(req, res, uploadId);
        default:
          throw TusErrors.methodNotAllowed('HEAD, PATCH, DELETE, GET, OPTIONS');
      }
    } catch (error) {
      sendError(req, res, error, uploadId);
    }
  }
}
