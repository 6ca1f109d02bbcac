import { Logger } from '@nestjs/common';
import type * as PromClient from 'prom-client';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LockerHooks } from '../locker/locker.interface';
import { loadOptionalPeer } from './optional-peer';

/** @internal */
export type PromClientModule = typeof PromClient;

/**
 * What the module needs of a prom-client `Registry` (any prom-client Registry is one). Typed here rather than
 * imported, so that apps without prom-client (it is an optional peer) compile against the published types.
 */
export interface MetricsRegistry {
  getSingleMetric(name: string): unknown;
  metrics(): Promise<string>;
}

/** The `metrics` option: where the module's metrics are registered. */
export interface TusMetricsOptions {
  /** The host app's registry (a prom-client `Registry`). Default: prom-client's global `register`. */
  registry?: MetricsRegistry;
  /** Put before every metric name, e.g. `myapp_` gives `myapp_tus_requests_total`. Default: none. */
  prefix?: string;
}

/** How an S3 call ended: `client_error` is a 4xx answer (e.g. NoSuchKey, often expected), `error` anything else. */
export type S3CallOutcome = 'success' | 'client_error' | 'error' | 'aborted';
/** How a `lock()` call ended: `timeout` is a 423, `unavailable` a 503 (no quorum). */
export type LockWaitOutcome = 'acquired' | 'timeout' | 'unavailable' | 'error';

/** Metric names without the prefix; README, "Health and metrics", lists what each means. */
export const TUS_METRIC_NAMES = {
  requests: 'tus_requests_total',
  receivedBytes: 'tus_received_bytes_total',
  uploadsCreated: 'tus_uploads_created_total',
  uploadsFinished: 'tus_uploads_finished_total',
  uploadsTerminated: 'tus_uploads_terminated_total',
  uploadDuration: 'tus_upload_duration_seconds',
  s3RequestDuration: 'tus_s3_request_duration_seconds',
  lockWait: 'tus_lock_wait_seconds',
  releaseRequests: 'tus_lock_release_requests_total',
  heldBytesInRedis: 'tus_redis_held_bytes',
} as const;

const KNOWN_METHODS = new Set(['OPTIONS', 'POST', 'HEAD', 'PATCH', 'DELETE', 'GET']);
const logger = new Logger('TusS3');

/**
 * The module's Prometheus metrics, registered into the host app's registry. Metrics that already exist in the
 * registry with the same type and labels are reused, so two modules (or two test apps) in one process share them
 * instead of failing on a duplicate name.
 *
 * Fed by the module itself (requests, bytes, events, S3 calls, lock waits, release requests); the bytes held back in
 * Redis are read from Redis when the registry is scraped ({@link measureHeldBytesInRedis}).
 */
export class TusMetrics {
  readonly registry: MetricsRegistry;
  private readonly promRegistry: Registry;
  private readonly requests: Counter<'method' | 'status'>;
  private readonly receivedBytes: Counter;
  private readonly uploadsCreated: Counter;
  private readonly uploadsFinished: Counter;
  private readonly uploadsTerminated: Counter;
  private readonly uploadDuration: Histogram;
  private readonly s3RequestDuration: Histogram<'operation' | 'outcome'>;
  private readonly lockWait: Histogram<'outcome'>;
  private readonly releaseRequests: Counter<'direction'>;
  private readonly heldBytesInRedis: Gauge;

  /** @internal The module makes it (see {@link create}); apps get it from `TUS_METRICS`. */
  constructor(
    private readonly client: PromClientModule,
    options: TusMetricsOptions = {},
  ) {
    this.promRegistry = (options.registry as Registry | undefined) ?? client.register;
    this.registry = this.promRegistry;
    const prefix = options.prefix ?? '';
    const n = TUS_METRIC_NAMES;
    this.requests = this.counter(prefix + n.requests, 'tus requests answered, by effective method and status', [
      'method',
      'status',
    ]);
    this.receivedBytes = this.counter(prefix + n.receivedBytes, 'request body bytes received by the tus endpoint', []);
    this.uploadsCreated = this.counter(prefix + n.uploadsCreated, 'uploads created', []);
    this.uploadsFinished = this.counter(prefix + n.uploadsFinished, 'uploads finished (the final object exists)', []);
    this.uploadsTerminated = this.counter(prefix + n.uploadsTerminated, 'uploads terminated (DELETE)', []);
    this.uploadDuration = this.histogram(
      prefix + n.uploadDuration,
      'time from the creation of an upload to its end',
      [],
      [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400],
    );
    this.s3RequestDuration = this.histogram(
      prefix + n.s3RequestDuration,
      'S3 calls of the module, by operation and outcome (retries included)',
      ['operation', 'outcome'],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    );
    this.lockWait = this.histogram(
      prefix + n.lockWait,
      'time requests waited for an upload lock, by outcome',
      ['outcome'],
      [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    );
    this.releaseRequests = this.counter(
      prefix + n.releaseRequests,
      'release requests: sent by waiting requests here, received by locks held here',
      ['direction'],
    );
    this.heldBytesInRedis = this.gauge(prefix + n.heldBytesInRedis, 'bytes held back in Redis (holdBackIn redis)');
  }

  /**
   * Metrics as the `metrics` option asks: `false` → none; options → prom-client must be installed; not set → on when
   * prom-client is installed, off (with a log line) when not.
   */
  /** @internal */
  static create(
    options: TusMetricsOptions | false | undefined,
    load: () => PromClientModule | undefined = () => loadOptionalPeer<PromClientModule>('prom-client'),
  ): TusMetrics | null {
    if (options === false) return null;
    const client = load();
    if (!client) {
      if (options)
        throw new Error('the metrics option needs prom-client: npm install prom-client (or set metrics: false)');
      logger.log('prom-client is not installed: no metrics (install it, or set metrics: false to silence this)');
      return null;
    }
    return new TusMetrics(client, options);
  }

  /** A request to the tus endpoint ended: `method` as served (after X-HTTP-Method-Override), `status` or `aborted`. */
  observeRequest(method: string, status: number | 'aborted'): void {
    const upper = method.toUpperCase();
    this.requests.inc({ method: KNOWN_METHODS.has(upper) ? upper : 'OTHER', status: String(status) });
  }

  addReceivedBytes(bytes: number): void {
    if (bytes > 0) this.receivedBytes.inc(bytes);
  }

  uploadCreated(): void {
    this.uploadsCreated.inc();
  }

  /** `createdAt`: the upload's ISO creation time, so the duration holds whichever instance created it. */
  uploadFinished(createdAt: string | undefined, now = Date.now()): void {
    this.uploadsFinished.inc();
    const started = createdAt ? Date.parse(createdAt) : NaN;
    if (Number.isFinite(started) && now >= started) this.uploadDuration.observe((now - started) / 1000);
  }

  uploadTerminated(): void {
    this.uploadsTerminated.inc();
  }

  observeS3Request(operation: string, outcome: S3CallOutcome, seconds: number): void {
    this.s3RequestDuration.observe({ operation, outcome }, seconds);
  }

  observeLockWait(outcome: LockWaitOutcome, seconds: number): void {
    this.lockWait.observe({ outcome }, seconds);
  }

  countReleaseRequest(direction: 'sent' | 'received'): void {
    this.releaseRequests.inc({ direction });
  }

  /**
   * Reads the bytes held back in Redis with `read` on every scrape: one number kept in Redis for all instances, so
   * every instance reports the same total (take one of them, not the sum). A failed read leaves the last value.
   */
  measureHeldBytesInRedis(read: () => Promise<number>): void {
    const gauge = this.heldBytesInRedis;
    (gauge as unknown as { collect: () => Promise<void> }).collect = async () => {
      try {
        gauge.set(await read());
      } catch {
        // Redis is down: /metrics still answers; the health indicator is where that shows.
      }
    };
  }

  /** Hooks for the lockers' constructors: they count release requests here. */
  lockerHooks(): LockerHooks {
    return {
      releaseRequested: () => this.countReleaseRequest('sent'),
      releaseRequestReceived: () => this.countReleaseRequest('received'),
    };
  }

  private counter<L extends string>(name: string, help: string, labelNames: L[]): Counter<L> {
    return (
      this.reuse(name, this.client.Counter, labelNames) ??
      new this.client.Counter<L>({ name, help, labelNames, registers: [this.promRegistry] })
    );
  }

  private gauge(name: string, help: string): Gauge {
    return (
      this.reuse(name, this.client.Gauge, []) ?? new this.client.Gauge({ name, help, registers: [this.promRegistry] })
    );
  }

  private histogram<L extends string>(name: string, help: string, labelNames: L[], buckets: number[]): Histogram<L> {
    return (
      this.reuse(name, this.client.Histogram, labelNames) ??
      new this.client.Histogram<L>({ name, help, labelNames, buckets, registers: [this.promRegistry] })
    );
  }

  private reuse<T>(name: string, kind: abstract new (...args: never[]) => T, labelNames: string[]): T | undefined {
    const existing = this.promRegistry.getSingleMetric(name) as unknown;
    if (existing === undefined) return undefined;
    const labels = (existing as { labelNames?: string[] }).labelNames ?? [];
    if (!(existing instanceof kind) || [...labels].sort().join() !== [...labelNames].sort().join()) {
      throw new Error(`metric ${name} is already registered with another type or labels: set metrics.prefix`);
    }
    return existing;
  }
}
