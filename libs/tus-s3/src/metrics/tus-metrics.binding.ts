import type { S3Client } from '@aws-sdk/client-s3';
import { Inject, Injectable, OnModuleDestroy, OnModuleInit, Optional } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { TusEvents } from '../events/tus-events';
import { TUS_HELD_BYTES, TUS_METRICS, TUS_S3_CLIENT } from '../tus-s3.constants';
import { addS3Metrics } from './s3-metrics.middleware';
import type { TusMetrics } from './tus-metrics';

/** What the held-bytes provider offers here (it is null unless `holdBackIn: 'redis'` is possible). */
interface HeldBytesTotal {
  heldBytesTotal(): Promise<number>;
}

/** The module's events as they matter here; only `upload.id` and `upload.createdAt` are relied upon. */
interface UploadEvent {
  upload?: { id?: string; createdAt?: string };
}

/**
 * Connects the metrics to what can be observed from outside the request path: the module's events (uploads
 * created, finished, terminated), the S3 client (a middleware) and the bytes held back in Redis. Nothing without
 * metrics.
 */
@Injectable()
export class TusMetricsBinding implements OnModuleInit, OnModuleDestroy {
  private readonly undo: (() => void)[] = [];

  constructor(
    @Optional() @Inject(TUS_METRICS) private readonly metrics: TusMetrics | null,
    @Inject(TUS_S3_CLIENT) private readonly client: S3Client,
    @Optional() private readonly events?: EventEmitter2,
    @Optional() @Inject(TUS_HELD_BYTES) private readonly heldInRedis?: HeldBytesTotal | null,
  ) {}

  onModuleInit(): void {
    const metrics = this.metrics;
    if (!metrics) return;
    this.undo.push(addS3Metrics(this.client, metrics));
    const held = this.heldInRedis;
    if (held) metrics.measureHeldBytesInRedis(() => held.heldBytesTotal());
    if (!this.events) return;
    this.listen(TusEvents.UploadCreated, () => metrics.uploadCreated());
    this.listen(TusEvents.UploadFinished, (event) => metrics.uploadFinished(event?.upload?.createdAt));
    this.listen(TusEvents.UploadTerminated, () => metrics.uploadTerminated());
  }

  onModuleDestroy(): void {
    for (const undo of this.undo.splice(0)) undo();
  }

  private listen(name: string, listener: (event: UploadEvent | undefined) => void): void {
    const events = this.events!;
    events.on(name, listener);
    this.undo.push(() => void events.off(name, listener));
  }
}
