import { Logger } from '@nestjs/common';
import Redis from 'ioredis';
import { logConnectionChanges } from './redis-clients';

/** A request to let go of an upload, and which `lock()` call sent it (so that call can ignore its own echo). */
export interface ReleaseRequest {
  uploadId: string;
  requesterId: string;
}

/** The message that says a holder let go of an upload after it was asked to (requester ids are UUIDs). */
const RELEASED = 'released';

/**
 * Carries "please release upload X", and "X was released" after such a request, between instances over Redis
 * pub/sub. Requests go to every master and every
 * instance listens on every master, so a request gets through as long as one master is up for both sides.
 *
 * Each instance holds one pattern subscription per master (not one channel per held upload): no subscribe traffic
 * per request, nothing to unsubscribe on release, and nothing to leak. The price is that every instance hears
 * every request, which is cheap because requests only happen under contention.
 */
export class ReleaseRequestBus {
  private readonly logger = new Logger(ReleaseRequestBus.name);
  private readonly channelPrefix: string;
  private subscribers: Redis[] | undefined;
  private closed = false;

  constructor(
    private readonly clients: readonly Redis[],
    keyPrefix: string,
    private readonly onRequest: (request: ReleaseRequest) => void,
    private readonly onReleased: (uploadId: string) => void = () => undefined,
  ) {
    this.channelPrefix = `${keyPrefix}release:`;
  }

  /** Subscribes on first use. Does not wait: a master that is down must not delay locking on the others. */
  listen(): void {
    if (this.subscribers || this.closed) return;
    const pattern = `${escapeGlob(this.channelPrefix)}*`;
    this.subscribers = this.clients.map((client) => {
      // Unlike lock commands, the subscription must wait for a master that is down right now: it is made on every
      // connection, the first and each reconnect. Not by ioredis (autoResubscribe): it sends that PSUBSCRIBE without
      // a handler, so a connection that closes before the answer (a master going down again, or close() here) leaves
      // an unhandled rejection ("Connection is closed"), which fails a test suite or, by default, ends a process.
      const subscriber = client.duplicate({
        enableOfflineQueue: true,
        maxRetriesPerRequest: null,
        commandTimeout: undefined,
        autoResubscribe: false,
        lazyConnect: false,
      });
      logConnectionChanges(subscriber, `${client.options.host}:${client.options.port} (release requests)`);
      subscriber.on('pmessage', (_pattern: string, channel: string, message: string) => this.receive(channel, message));
      subscriber.on('ready', () => {
        subscriber.psubscribe(pattern).catch((error: Error) => {
          if (!this.closed) this.logger.warn(`cannot subscribe to release requests: ${error.message}`);
        });
      });
      return subscriber;
    });
  }

  /** Best effort, fire and forget: masters that are not connected are skipped instead of queueing commands. */
  publish(request: ReleaseRequest): void {
    this.send(request.uploadId, request.requesterId);
  }

  /** Tells those waiting for the upload that its holder let go, so they try again now rather than after a pause. */
  publishReleased(uploadId: string): void {
    this.send(uploadId, RELEASED);
  }

  close(): Promise<void> {
    this.closed = true;
    const subscribers = this.subscribers ?? [];
    this.subscribers = undefined;
    // disconnect(), not quit(): quit would wait for masters that are down.
    for (const subscriber of subscribers) subscriber.disconnect();
    return Promise.resolve();
  }

  private send(uploadId: string, message: string): void {
    if (this.closed) return;
    const channel = this.channelPrefix + uploadId;
    for (const client of this.clients) {
      if (client.status !== 'ready') continue;
      client.publish(channel, message).catch(() => undefined);
    }
  }

  private receive(channel: string, message: string): void {
    if (this.closed || !channel.startsWith(this.channelPrefix)) return;
    const uploadId = channel.slice(this.channelPrefix.length);
    if (message === RELEASED) this.onReleased(uploadId);
    else this.onRequest({ uploadId, requesterId: message });
  }
}

/** Keeps a key prefix like `app[1]:` from being read as a glob by PSUBSCRIBE. */
function escapeGlob(text: string): string {
  return text.replace(/[\\*?[\]]/g, '\\$&');
}
