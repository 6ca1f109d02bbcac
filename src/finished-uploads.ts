import { randomBytes } from 'node:crypto';
import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { TusEvents, UploadFinishedEvent } from '@nestjs-tus/s3';
import Redis, { RedisOptions } from 'ioredis';
import { Observable, Subject } from 'rxjs';
import { demoConfigFromEnv } from './demo.config';

/**
 * What the page's list shows of a finished upload. Small, plain JSON, with fields picked one by one: it travels
 * through Redis to every instance, so it must not depend on the whole shape of the module's upload record.
 */
export interface FinishedUpload {
  id: string;
  size: number | null;
  /** metadata.filename and metadata.filetype as the client sent them, when it did. */
  filename: string | null;
  filetype: string | null;
  object: { bucket: string; key: string };
  /** Where `copyOnFinish` put a copy (TUS_COPY_BUCKET), when it did. */
  copy: { bucket: string; key: string } | null;
  finishedAt: string;
  /** The instance that stored the upload's last bytes. */
  instance: string;
}

/** Pub/sub channel shared by every demo instance using the same Redis. */
export const FINISHED_CHANNEL = 'tus-demo:upload.finished';

/** How many finished uploads a page gets when it connects, so that a reloaded page is not empty. */
const RECENT = 50;
/** How long start-up waits for Redis before going on without it (it keeps reconnecting in the background). */
const CONNECT_WAIT_MS = 5_000;

/**
 * The finished uploads of every instance: each instance publishes what it finished to a Redis channel and passes
 * on what it receives from it, its own uploads included, to its /events clients. Without Redis (REDIS_URLS
 * empty) the feed is this instance's own uploads.
 */
@Injectable()
export class FinishedUploads implements OnModuleInit, OnModuleDestroy {
  /** Tells instances apart on the page: random per process start. */
  readonly instance = randomBytes(3).toString('hex');
  private readonly logger = new Logger('FinishedUploads');
  private readonly live = new Subject<FinishedUpload>();
  private readonly recent: FinishedUpload[] = [];
  private readonly publisher: Redis | undefined;
  private readonly subscriber: Redis | undefined;

  constructor() {
    const url = demoConfigFromEnv().eventsRedisUrl;
    if (url === undefined) return;
    // Publishing fails at once while Redis is away (no offline queue), and the event is then shown here only.
    this.publisher = this.connect(url, 'publisher', {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 2_000,
    });
    // The subscriber waits for Redis as long as it takes (its SUBSCRIBE stays queued), then subscribes again by
    // itself after each reconnection (ioredis' autoResubscribe).
    this.subscriber = this.connect(url, 'subscriber', { maxRetriesPerRequest: null });
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === FINISHED_CHANNEL) this.receive(message);
    });
  }

  async onModuleInit(): Promise<void> {
    if (!this.subscriber || !this.publisher) return;
    // Subscribed before the app listens: an upload finished on another instance right after start-up is seen. Only
    // once the connection is ready: a SUBSCRIBE sent between connect and ready makes ioredis' ready check (INFO) fail
    // in subscriber mode, and after the reconnection that follows the subscription was lost.
    const subscriber = this.subscriber;
    const subscribed = waitReady(subscriber).then(() => subscriber.subscribe(FINISHED_CHANNEL));
    const ready = Promise.all([subscribed, waitReady(this.publisher)]).then(
      () => 'ready',
      (error: Error) => error.message,
    );
    const timeout = new Promise<string>((resolve) =>
      setTimeout(resolve, CONNECT_WAIT_MS, `no answer within ${CONNECT_WAIT_MS} ms`).unref(),
    );
    const outcome = await Promise.race([ready, timeout]);
    if (outcome !== 'ready') {
      this.logger.warn(`Redis not ready (${outcome}): finished uploads of other instances show once it is`);
    }
  }

  onModuleDestroy(): void {
    this.live.complete(); // ends every /events stream, so that closing the server does not wait for them
    this.subscriber?.disconnect();
    this.publisher?.disconnect();
  }

  @OnEvent(TusEvents.UploadFinished)
  async onFinished(event: UploadFinishedEvent): Promise<void> {
    try {
      // The partial uploads of a parallel upload finish too, but only the final upload belongs in the list.
      if (event.upload.concat?.kind === 'partial') return;
      const metadata = event.upload.metadata;
      const finished: FinishedUpload = {
        id: event.upload.id,
        size: event.upload.size,
        filename: metadata.filename ?? null,
        filetype: metadata.filetype ?? null,
        object: { bucket: event.object.bucket, key: event.object.key },
        copy: event.copy ? { bucket: event.copy.bucket, key: event.copy.key } : null,
        finishedAt: new Date().toISOString(),
        instance: this.instance,
      };
      if (!this.publisher) return this.deliver(finished);
      try {
        await this.publisher.publish(FINISHED_CHANNEL, JSON.stringify(finished));
      } catch (error) {
        this.logger.warn(
          `could not publish upload ${finished.id} to Redis (${(error as Error).message}): shown on this instance only`,
        );
        this.deliver(finished);
      }
    } catch (error) {
      // A listener must never disturb the upload that emitted the event.
      this.logger.error(`finished upload ${event.upload?.id} not passed on: ${(error as Error).message}`);
    }
  }

  /**
   * The recent finished uploads (after `lastId` when it is one of them: an EventSource that reconnects sends the
   * last id it saw), then each new one; completes when the app shuts down.
   */
  stream(lastId?: string): Observable<FinishedUpload> {
    return new Observable<FinishedUpload>((subscriber) => {
      const seen = lastId === undefined ? -1 : this.recent.findIndex((upload) => upload.id === lastId);
      for (const upload of this.recent.slice(seen + 1)) subscriber.next(upload);
      return this.live.subscribe(subscriber);
    });
  }

  private receive(message: string): void {
    let upload: FinishedUpload;
    try {
      upload = JSON.parse(message) as FinishedUpload;
    } catch {
      return this.logger.warn(`ignored a message on ${FINISHED_CHANNEL} that is not JSON`);
    }
    if (typeof upload?.id !== 'string' || typeof upload.object?.key !== 'string') {
      return this.logger.warn(`ignored a message on ${FINISHED_CHANNEL} without an upload id and object`);
    }
    this.deliver(upload);
  }

  private deliver(upload: FinishedUpload): void {
    this.recent.push(upload);
    if (this.recent.length > RECENT) this.recent.shift();
    this.live.next(upload);
  }

  private connect(url: string, role: string, options: RedisOptions): Redis {
    const client = new Redis(url, { connectTimeout: 2_000, ...options });
    let down = false;
    // Also keeps ioredis from reporting each failed reconnect as an unhandled error.
    client.on('error', (error: Error) => {
      if (!down) this.logger.warn(`Redis ${role} unreachable (${error.message}); reconnecting in the background`);
      down = true;
    });
    client.on('ready', () => {
      if (down) this.logger.log(`Redis ${role} reachable again`);
      down = false;
    });
    return client;
  }
}

function waitReady(client: Redis): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => client.once('ready', () => resolve()));
}
