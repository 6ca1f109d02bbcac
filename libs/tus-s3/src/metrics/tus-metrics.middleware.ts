import type { ServerResponse } from 'node:http';
import { Inject, Injectable, NestMiddleware, Optional } from '@nestjs/common';
import type { TusRequest } from '../http/request';
import { TUS_METRICS } from '../tus-s3.constants';
import { observeTusRequest } from './request-observer';
import type { TusMetrics } from './tus-metrics';

/**
 * First on the tus routes: counts each request and its body bytes (see observeTusRequest). A middleware rather than
 * an interceptor, so that requests refused by the app's guards, and CORS preflights the module answers itself, are
 * counted too. No-op without metrics.
 */
@Injectable()
export class TusMetricsMiddleware implements NestMiddleware {
  constructor(@Optional() @Inject(TUS_METRICS) private readonly metrics: TusMetrics | null) {}

  use(req: TusRequest, res: ServerResponse, next: () => void): void {
    if (this.metrics) observeTusRequest(this.metrics, req, res);
    next();
  }
}
