import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckResult, HealthCheckService } from '@nestjs/terminus';
import { TusHealthIndicator } from '@nestjs-tus/s3';
import { Public } from './demo-auth';

/**
 * GET /health: 200 when the upload bucket and a Redis lock quorum answer, 503 naming the one that does not. Public:
 * load balancers and orchestrators probe it without credentials.
 */
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly tusHealth: TusHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check(): Promise<HealthCheckResult> {
    return this.health.check([() => this.tusHealth.s3(), () => this.tusHealth.redis()]);
  }
}
