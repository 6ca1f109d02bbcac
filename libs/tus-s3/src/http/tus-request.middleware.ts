import type { ServerResponse } from 'node:http';
import { Inject, Injectable, NestMiddleware } from '@nestjs/common';
import { TUS_S3_OPTIONS } from '../tus-s3.constants';
import type { ResolvedTusS3Options } from '../tus-s3.options';
import { restoreContentType } from './body-parser-shield';
import { applyCors } from './cors';
import { firstHeader, TusRequest } from './request';
import { send } from './tus-response';

/**
 * Runs before the app's guards on the tus routes: puts back the Content-Type hidden from body parsers, applies
 * `X-HTTP-Method-Override` (on POST only, so a GET can never delete), so that guards see the effective method, and
 * answers CORS preflights, which carry no credentials and must never reach a guard.
 */
@Injectable()
export class TusRequestMiddleware implements NestMiddleware {
  constructor(@Inject(TUS_S3_OPTIONS) private readonly options: ResolvedTusS3Options) {}

  use(req: TusRequest, res: ServerResponse, next: () => void): void {
    restoreContentType(req);
    const override = firstHeader(req.headers['x-http-method-override'])?.toUpperCase();
    // For clients behind proxies that pass only GET and POST; a method we do not serve is then answered 405.
    if (req.method === 'POST' && override !== undefined) req.method = override;
    if (applyCors(req, res, this.options.cors)) return send(res, 204, {});
    next();
  }
}
