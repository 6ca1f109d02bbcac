import { Controller, Get, Header } from '@nestjs/common';
import { register } from 'prom-client';

/**
 * GET /metrics: the Prometheus text exposition of prom-client's global registry, where the module's metrics are.
 * Behind the demo's token like every non-public route (Prometheus sends it with `authorization: { credentials }`).
 */
@Controller('metrics')
export class MetricsController {
  @Get()
  @Header('Content-Type', register.contentType)
  @Header('Cache-Control', 'no-store')
  metrics(): Promise<string> {
    return register.metrics();
  }
}
