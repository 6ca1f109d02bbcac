import { Logger, LoggerService, Provider } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { Test, TestingModule } from '@nestjs/testing';
import { UploadEvents } from '../events/upload-events';
import type { TusHooks } from '../hooks/tus-hooks';
import { TUS_REQUEST_PROVIDERS } from '../http/request-providers';
import { TusRouter } from '../http/tus-router';
import { MemoryLocker } from '../locker/memory-locker';
import { serializeMetadata } from '../protocol/metadata';
import type { TusDataStore, Upload, UploadConcat } from '../store/tus-data-store';
import {
  Clock,
  TUS_CLOCK,
  TUS_HOOKS,
  TUS_LOCKER,
  TUS_MOUNT_PATH,
  TUS_S3_OPTIONS,
  TUS_STORE,
  TUS_REDIS_CLIENTS,
} from '../tus-s3.constants';
import { resolveOptions, ResolvedTusS3Options, TusS3ModuleOptions } from '../tus-s3.options';
import { FakeRequest, FakeRequestInit, FakeResponse, RecordingEmitter } from './http-doubles';
import { MemoryStore } from './memory-store';

// Test.compile() preloads @nestjs/platform-express for createNestApplication(), which the harness never calls:
// loading express and its dependencies would cost about 0.4 s of CPU in every spec file. Specs that need a real
// HTTP app use Test.createTestingModule themselves, not this harness.
if (typeof jest !== 'undefined') jest.mock('@nestjs/platform-express', () => ({}));

export const TUS_HEADERS = { 'Tus-Resumable': '1.0.0' } as const;

export interface HarnessInit {
  /** Module options beside `bucket: 'test-bucket'`, resolved as the module resolves them. */
  options?: Partial<TusS3ModuleOptions>;
  hooks?: TusHooks;
  /** Default: a new MemoryStore. */
  store?: TusDataStore;
  /** Default `/files`. */
  mountPath?: string;
  /** How long a request waits for a busy upload before 423 (lock.waitMs). Default 1000 ms. */
  lockWaitMs?: number;
  /** TUS_CLOCK (what tells whether an upload expired). Default: the system clock. */
  clock?: Clock;
}

export interface RequestInit extends Omit<FakeRequestInit, 'method' | 'url'> {
  /** Leave out `Tus-Resumable: 1.0.0` (it is sent by default). */
  withoutTusResumable?: boolean;
}

/** What the module logged while the harness ran (5xx answers are logged as errors). */
export class RecordingLogger implements LoggerService {
  readonly entries: Array<{ level: string; message: string }> = [];
  log(message: unknown): void {
    this.entries.push({ level: 'log', message: String(message) });
  }
  error(message: unknown): void {
    this.entries.push({ level: 'error', message: String(message) });
  }
  warn(message: unknown): void {
    this.entries.push({ level: 'warn', message: String(message) });
  }
  debug(message: unknown): void {
    this.entries.push({ level: 'debug', message: String(message) });
  }
  verbose(message: unknown): void {
    this.entries.push({ level: 'verbose', message: String(message) });
  }
  errors(): string[] {
    return this.entries.filter((e) => e.level === 'error').map((e) => e.message);
  }
}

/** The providers of `http/` (without the body-parser shield, which needs a server) and the upload events. */
const HTTP_PROVIDERS: Provider[] = [...TUS_REQUEST_PROVIDERS, UploadEvents];

/**
 * The tus request handlers built by Nest over a MemoryStore, a MemoryLocker and a recording EventEmitter2, driven
 * with in-memory requests and responses: no S3, no Redis, no sockets.
 */
export class TusHarness {
  private constructor(
    readonly moduleRef: TestingModule,
    /** The object given as TUS_HOOKS: set, replace or delete its methods in a spec (see {@link reset}). */
    readonly hooks: TusHooks,
    readonly router: TusRouter,
    readonly store: MemoryStore,
    readonly locker: MemoryLocker,
    readonly events: RecordingEmitter,
    readonly logs: RecordingLogger,
    readonly options: ResolvedTusS3Options,
    readonly mountPath: string,
  ) {}

  static async create(init: HarnessInit = {}): Promise<TusHarness> {
    const store = init.store ?? new MemoryStore({ bucket: 'test-bucket' });
    const locker = new MemoryLocker({ waitMs: init.lockWaitMs ?? 1000 });
    const events = new RecordingEmitter();
    const logs = new RecordingLogger();
    const options = resolveOptions({ bucket: 'test-bucket', ...init.options });
    const mountPath = init.mountPath ?? '/files';
    const hooks: TusHooks = { ...init.hooks };
    const moduleRef = await Test.createTestingModule({
      providers: [
        ...HTTP_PROVIDERS,
        { provide: TUS_STORE, useValue: store },
        { provide: TUS_CLOCK, useValue: { now: () => new Date() } },
        { provide: TUS_LOCKER, useValue: locker },
        { provide: TUS_S3_OPTIONS, useValue: options },
        { provide: TUS_HOOKS, useValue: hooks },
        { provide: TUS_MOUNT_PATH, useValue: mountPath },
        { provide: TUS_REDIS_CLIENTS, useValue: [] },
        { provide: TUS_CLOCK, useValue: init.clock ?? { now: () => new Date() } },
        { provide: EventEmitter2, useValue: events },
      ],
    })
      .setLogger(logs)
      .compile();
    return new TusHarness(
      moduleRef,
      hooks,
      moduleRef.get(TusRouter),
      store as MemoryStore,
      locker,
      events,
      logs,
      options,
      mountPath,
    );
  }

  /**
   * Runs `work` on a harness of its own, closed afterwards: for the one spec that needs other options than its
   * neighbours.
   */
  static async with<T>(init: HarnessInit, work: (h: TusHarness) => Promise<T>): Promise<T> {
    const h = await TusHarness.create(init);
    try {
      return await work(h);
    } finally {
      await h.close();
    }
  }

  /**
   * Forgets every upload, event and log line, and sets the hooks to `hooks`: a harness shared by the specs of a file
   * (building the Nest module for each spec would cost more than the spec itself) starts each one afresh.
   */
  reset(hooks: TusHooks = {}): void {
    if (typeof this.store.clear === 'function') this.store.clear();
    this.events.clear();
    this.events.removeAllListeners();
    this.logs.entries.length = 0;
    for (const name of Object.keys(this.hooks)) delete this.hooks[name as keyof TusHooks];
    Object.assign(this.hooks, hooks);
  }

  /** Starts a request (with `Tus-Resumable: 1.0.0` unless told otherwise); resolves with the answer. */
  request(method: string, path: string, init: RequestInit = {}): Promise<FakeResponse> {
    return this.start(method, path, init).done;
  }

  /**
   * Starts a request and returns it at once with its answer to come: for bodies the test sends itself, or requests
   * racing each other.
   */
  start(
    method: string,
    path: string,
    init: RequestInit = {},
  ): { req: FakeRequest; res: FakeResponse; done: Promise<FakeResponse> } {
    // Nest's logger is global: make sure what this request logs lands in this harness's log.
    Logger.overrideLogger(this.logs);
    const { withoutTusResumable, ...rest } = init;
    const headers = { ...(withoutTusResumable ? {} : TUS_HEADERS), ...rest.headers };
    const req = new FakeRequest({ ...rest, method, url: path, headers: { host: 'tus.test', ...headers } });
    const res = new FakeResponse();
    const done = this.router.handle(req.asTusRequest, res as never, this.uploadIdOf(path)).then(async () => {
      await res.done;
      return res;
    });
    return { req, res, done };
  }

  /** What the controller's routes give the router: nothing for the collection URL, else the rest of the path. */
  uploadIdOf(path: string): string | undefined {
    const rest = path.split('?')[0].slice(this.mountPath.length);
    if (rest === '' || rest === '/') return undefined;
    return rest.replace(/^\//, '');
  }

  /** The URL of an upload, as Location gives it. */
  urlOf(id: string): string {
    return `http://tus.test${this.mountPath}/${id}`;
  }

  pathOf(id: string): string {
    return `${this.mountPath}/${id}`;
  }

  /**
   * An upload put straight into the store (no request, no event, no hook), with `bytes` written under its lock: the
   * state a spec starts from.
   */
  async seed(
    init: {
      size?: number | null;
      bytes?: string | Buffer;
      metadata?: Record<string, string | null>;
      concat?: UploadConcat;
      id?: string;
    } = {},
  ): Promise<Upload> {
    const bytes = typeof init.bytes === 'string' ? Buffer.from(init.bytes) : (init.bytes ?? Buffer.alloc(0));
    const metadata = init.metadata ?? {};
    const created = await this.store.create({
      id: init.id,
      size: init.size === undefined ? bytes.length : init.size,
      metadata,
      metadataHeader: serializeMetadata(metadata),
      concat: init.concat,
    });
    if (bytes.length === 0) return created;
    const lock = await this.locker.lock(created.id);
    try {
      const outcome = await this.store.write(
        created,
        new FakeRequest({ method: 'PATCH', url: '/', body: bytes }),
        lock,
        {
          maxBytes: bytes.length,
        },
      );
      return outcome.upload;
    } finally {
      await lock.release();
    }
  }

  async close(): Promise<void> {
    await this.locker.close(0);
    await this.moduleRef.close();
  }
}

/** The id at the end of a Location URL of the harness. */
export function idOfLocation(location: string | undefined, mountPath = '/files'): string {
  if (!location) throw new Error('no Location');
  const path = new URL(location, 'http://tus.test').pathname;
  return path.slice(path.indexOf(`${mountPath}/`) + mountPath.length + 1);
}

export const PUBLIC_UPLOAD_KEYS = [
  'id',
  'size',
  'offset',
  'metadata',
  'metadataHeader',
  'createdAt',
  'finishedAt',
  'expiresAt',
  'concat',
  'location',
] as const;

/** Whether a value is an Upload as the public interface describes it, and nothing more (no journal, no parts). */
export function isPublicUpload(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const keys = Object.keys(value);
  return (
    keys.every((key) => (PUBLIC_UPLOAD_KEYS as readonly string[]).includes(key)) &&
    ['id', 'size', 'offset', 'metadata', 'metadataHeader', 'createdAt', 'finishedAt', 'location'].every((key) =>
      keys.includes(key),
    )
  );
}

export function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/** Waits (a few event-loop turns at a time, up to `ms`) until `condition` holds. */
export async function waitFor(condition: () => boolean, ms = 1000): Promise<void> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) throw new Error('waitFor: the condition did not hold in time');
    await new Promise((resolve) => setImmediate(resolve));
  }
}
