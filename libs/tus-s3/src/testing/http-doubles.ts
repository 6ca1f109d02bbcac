import type { IncomingHttpHeaders, OutgoingHttpHeader } from 'node:http';
import { Readable, Writable } from 'node:stream';
import { EventEmitter2 } from '@nestjs/event-emitter';
import type { TusRequest } from '../http/request';

export interface FakeRequestInit {
  method: string;
  url: string;
  /** Header names in any case; they are lower-cased as Node does. */
  headers?: Record<string, string | string[] | undefined>;
  /**
   * The body, sent at once and ended. `Content-Length` is added when absent (unless `chunked`). Leave it out, and set
   * `open: true`, to push the body yourself with {@link FakeRequest.send} and {@link FakeRequest.finish} or
   * {@link FakeRequest.abort}.
   */
  body?: string | Buffer | Buffer[];
  /** Send the body with `Transfer-Encoding: chunked` instead of a Content-Length. */
  chunked?: boolean;
  /** The body stays open until the test ends or aborts it. */
  open?: boolean;
  /** `socket.encrypted`: whether the request came over TLS. */
  encrypted?: boolean;
}

/**
 * An IncomingMessage as far as the tus handlers use one: a readable body with `method`, `url`, `originalUrl`,
 * lower-cased `headers` and a `socket`. Destroying it is what Node does when the client goes away.
 */
export class FakeRequest extends Readable {
  method: string;
  url: string;
  originalUrl: string;
  headers: IncomingHttpHeaders;
  readonly socket: { encrypted?: boolean; setTimeout(ms: number): void };
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly queued: Array<Buffer | null> = [];
  private waiting = false;

  constructor(init: FakeRequestInit) {
    super();
    this.method = init.method;
    this.url = init.url;
    this.originalUrl = init.url;
    this.socket = { encrypted: init.encrypted ?? false, setTimeout: (ms) => this.setTimeout(ms) };
    this.headers = {};
    for (const [name, value] of Object.entries(init.headers ?? {})) {
      if (value !== undefined) (this.headers as Record<string, string | string[]>)[name.toLowerCase()] = value;
    }
    if (init.body !== undefined) {
      const chunks =
        typeof init.body === 'string' ? [Buffer.from(init.body)] : Buffer.isBuffer(init.body) ? [init.body] : init.body;
      const length = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
      if (init.chunked) this.headers['transfer-encoding'] ??= 'chunked';
      else this.headers['content-length'] ??= String(length);
      for (const chunk of chunks) this.send(chunk);
      if (!init.open) this.finish();
    } else if (init.open && init.chunked) {
      this.headers['transfer-encoding'] ??= 'chunked';
    } else if (!init.open) {
      this.finish();
    }
  }

  /** As IncomingMessage.setTimeout: 'timeout' once `ms` pass (0 cancels); the fake's clock ignores arriving bytes. */
  setTimeout(ms: number, onTimeout?: () => void): this {
    clearTimeout(this.idleTimer);
    if (onTimeout) this.once('timeout', onTimeout);
    if (ms > 0) this.idleTimer = setTimeout(() => this.emit('timeout'), ms).unref();
    return this;
  }

  /** The request as the handlers' type names it. */
  get asTusRequest(): TusRequest {
    return this as unknown as TusRequest;
  }

  /** Bytes sent but not read by the handler yet. */
  get unreadBytes(): number {
    return this.readableLength + this.queued.reduce((sum, chunk) => sum + (chunk?.length ?? 0), 0);
  }

  /** Sends more of the body. */
  send(chunk: Buffer | string): void {
    this.enqueue(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  }

  /** Ends the body. */
  finish(): void {
    this.enqueue(null);
  }

  /** The client goes away mid-body. */
  abort(): void {
    this.destroy();
  }

  override _read(): void {
    this.waiting = true;
    this.flush();
  }

  private enqueue(chunk: Buffer | null): void {
    this.queued.push(chunk);
    if (this.waiting) this.flush();
  }

  private flush(): void {
    while (this.waiting && this.queued.length > 0) {
      this.waiting = this.push(this.queued.shift()!);
    }
  }
}

/**
 * A ServerResponse as far as the tus handlers use one: status, headers (case-insensitive), a body collected in
 * memory, `headersSent` once anything was written, `finish` when ended.
 */
export class FakeResponse extends Writable {
  statusCode = 200;
  headersSent = false;
  private readonly headerMap = new Map<string, OutgoingHttpHeader>();
  private readonly chunks: Buffer[] = [];
  /** Settles when the response was ended (or destroyed). */
  readonly done: Promise<void>;

  constructor() {
    super();
    this.done = new Promise((resolve) => {
      this.once('finish', () => resolve());
      this.once('close', () => resolve());
    });
  }

  setHeader(name: string, value: OutgoingHttpHeader): this {
    if (this.headersSent) throw new Error(`cannot set ${name}: the headers were sent`);
    this.headerMap.set(name.toLowerCase(), value);
    return this;
  }

  appendHeader(name: string, value: string | string[]): this {
    const existing = this.headerMap.get(name.toLowerCase());
    const added = Array.isArray(value) ? value : [value];
    const before = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
    return this.setHeader(name, [...before, ...added]);
  }

  getHeader(name: string): OutgoingHttpHeader | undefined {
    return this.headerMap.get(name.toLowerCase());
  }

  hasHeader(name: string): boolean {
    return this.headerMap.has(name.toLowerCase());
  }

  removeHeader(name: string): void {
    this.headerMap.delete(name.toLowerCase());
  }

  getHeaders(): Record<string, OutgoingHttpHeader> {
    return Object.fromEntries(this.headerMap);
  }

  /** A header as a client reads it: a string (repeated values joined by `, `), or undefined. */
  header(name: string): string | undefined {
    const value = this.headerMap.get(name.toLowerCase());
    if (value === undefined) return undefined;
    return Array.isArray(value) ? value.join(', ') : String(value);
  }

  /** The body received so far. */
  get body(): Buffer {
    return Buffer.concat(this.chunks);
  }

  get text(): string {
    return this.body.toString('utf8');
  }

  override end(...args: unknown[]): this {
    this.headersSent = true;
    return (Writable.prototype.end as (...a: unknown[]) => this).apply(this, args);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.headersSent = true;
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    callback();
  }
}

export interface EmittedEvent {
  name: string;
  payload: unknown;
}

/** An EventEmitter2 that remembers what was emitted, in order (listeners still run). */
export class RecordingEmitter extends EventEmitter2 {
  readonly emitted: EmittedEvent[] = [];

  override emit(event: string | symbol | Array<string | symbol>, ...values: unknown[]): boolean {
    this.emitted.push({ name: String(event), payload: values[0] });
    return super.emit(event, ...values);
  }

  override emitAsync(event: string | symbol | Array<string | symbol>, ...values: unknown[]): Promise<unknown[]> {
    this.emitted.push({ name: String(event), payload: values[0] });
    return super.emitAsync(event, ...values);
  }

  /** The names emitted, in order. */
  names(): string[] {
    return this.emitted.map((e) => e.name);
  }

  /** The payloads emitted under `name`, in order. */
  payloadsOf<T = unknown>(name: string): T[] {
    return this.emitted.filter((e) => e.name === name).map((e) => e.payload as T);
  }

  clear(): void {
    this.emitted.length = 0;
  }
}
