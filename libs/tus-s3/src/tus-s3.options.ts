import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import type { CanActivate, ExceptionFilter, ModuleMetadata, NestInterceptor, Type } from '@nestjs/common';
import type { TusHooks } from './hooks/tus-hooks';
import { TUS_ALL_EXTENSIONS, TusExtension } from './protocol/tus-constants';
import type { Redis } from 'ioredis';
import type { LockOptions } from './locker/locker-options';
import type { TusMetricsOptions } from './metrics/tus-metrics';
import { S3_LIMITS } from './store/part-plan';

export interface TusS3ModuleOptions {
  /** The bucket that holds uploads (info objects, held-back chunks and final objects). */
  bucket: string;
  /** Config for the S3Client this module creates. Ignored when `s3Client` is given. */
  s3?: S3ClientConfig;
  /** Use this client instead of creating one (it is not destroyed on shutdown). */
  s3Client?: S3Client;
  /** Prepended to every object key, e.g. `uploads/`. */
  objectPrefix?: string;
  /**
   * Part sizes in bytes. `min` is what S3 accepts; parts are cut at `preferred` unless an upload needs bigger (or,
   * held in Redis with a known length, a little smaller, for a short last part: see the README).
   */
  partSize?: { min?: number; preferred?: number; max?: number };
  /** Every part but the last exactly the same size (Cloudflare R2 needs it). Default false. */
  equalParts?: boolean;
  maxMultipartParts?: number;
  maxObjectSize?: number;
  /** Largest upload accepted (announced as Tus-Max-Size). Default: maxObjectSize. */
  maxSize?: number;
  /** How many parts of one PATCH upload to S3 at once while the body is still arriving. Default 4. */
  partUploadConcurrency?: number;
  /**
   * Bytes of received data that all PATCHes of this instance together may keep in memory on their way to S3 (parts
   * uploading and filling). A part reserves its memory before its first byte is read; when the budget is spent it
   * waits up to 2 s for parts in flight to land (its client is not read meanwhile), then is spooled to `tempDir`.
   * Default: what one PATCH needs at full speed, `partUploadConcurrency + 1` parts of `partSize.preferred` (40 MiB
   * with the defaults); 0: every part beyond its first 256 KiB goes to disk.
   */
  memoryBudget?: number;
  /** Where parts are spooled while they upload, beyond `memoryBudget`. Default: the OS temp dir. */
  tempDir?: string;
  /** CORS for browser clients: the allowed origins, or `'*'`. Default: off (the app's own CORS applies). */
  cors?: { origins: '*' | string[]; credentials?: boolean; maxAgeSeconds?: number };
  /**
   * Where bytes held back between PATCHes (less than a part) wait: `s3` (default) as chunk objects, or `redis` in the
   * FIRST Redis of `redis.urls`, which is much faster for small PATCHes but makes that Redis hold acknowledged
   * bytes: use one with persistence or a replica. Fixed per upload at its creation.
   */
  holdBackIn?: 's3' | 'redis';
  /** Redis masters for the Redlock locker (independent masters, not a cluster). Empty: the in-memory locker. */
  redis?: { urls?: string[]; clients?: Redis[]; keyPrefix?: string };
  lock?: Partial<LockOptions>;
  /** Copy every finished upload to another bucket (the copy survives termination). */
  copyOnFinish?: {
    bucket: string;
    prefix?: string;
    /** @internal Objects above this many bytes are copied part by part (default 5 GiB, S3's CopyObject limit); tests lower it. */
    multipartAbove?: number;
    /** @internal The part size of a multipart copy (default 512 MiB, grown to fit 10,000 parts); tests lower it. */
    partSize?: number;
  };
  /**
   * @internal How old an undelivered `upload.finished` must be before another request takes it over (default 10 s): the
   * instance that finished the upload normally delivers it well before.
   */
  announcementGraceMs?: number;
  /**
   * How often each instance looks for finished uploads whose copy and `upload.finished` are overdue (their deliverer
   * died) and that no request touched since. Default 60,000 ms; 0: only requests take deliveries over.
   */
  announcementScanMs?: number;
  /** Honour X-Forwarded-Host/-Proto when building Location URLs (only behind a proxy you trust). Default false. */
  trustProxy?: boolean;
  /** Create the bucket at start-up when it is missing. For demos and tests, not production. */
  createBucket?: boolean;
  /** Whether DELETE may terminate finished uploads (their final object is deleted too). Default true. */
  terminateFinished?: boolean;
  /**
   * An upload of known length up to this many bytes (and not part of a concatenation) is created without a multipart
   * upload, and the PATCH that brings its last byte stores it with one PutObject of its final object: at least three
   * S3 requests fewer per upload, a faster POST, and S3 spends less per byte on one object than on parts. That PATCH
   * keeps all it brings in memory (`memoryBudget`, beyond it `tempDir`) until the PutObject lands. One larger than a
   * part gets its multipart upload after all at the first PATCH that will not complete it, so that small PATCHes go
   * into parts as they come. Default: two preferred parts (16 MiB with the defaults); at most 5 GiB (S3's PutObject
   * limit); 0: every upload of size > 0 gets a multipart upload (S3 event notifications then always say
   * `CompleteMultipartUpload`).
   */
  storeWholeUpTo?: number;
  /** @deprecated use `storeWholeUpTo` (`false` is `storeWholeUpTo: 0`; `true` its default). */
  storeSmallUploadsWhole?: boolean;
  /**
   * A request body that sends nothing for this long is ended: what arrived is saved and the lock released. Default
   * 60,000 ms; 0 waits forever (a release request from another request still ends it).
   */
  idleTimeoutMs?: number;
  /** Extensions to switch off, e.g. `{ termination: false }`; OPTIONS then leaves them out. Default: all on. */
  extensions?: Partial<Record<TusExtension, boolean>>;
  /**
   * Prometheus metrics (prom-client, an optional peer dependency): `{ registry?, prefix? }` registers them into
   * `registry` (default: prom-client's global `register`); `false` turns them off. Not set: on when prom-client is
   * installed.
   */
  metrics?: TusMetricsOptions | false;
  /**
   * The expiration extension: an unfinished upload expires this long after its creation (stored with it, so a later
   * change does not move it) and is answered 410 until the sweeper removes it. Default: off (never expires).
   */
  expireAfterMs?: number;
  /** How often this instance sweeps expired uploads away (one sweep at a time across instances). Default: off. */
  sweepEveryMs?: number;
  /** The most S3 calls a sweep makes per minute. Default 600. */
  sweepMaxCallsPerMinute?: number;
  /** Tag the `.info` and chunk objects of unfinished uploads `tus-incomplete=true`, for S3 lifecycle rules. Default true. */
  tagIncomplete?: boolean;
}

/** Module-definition extras: known before any async factory runs, because routes are fixed at boot. */
export interface TusS3ModuleExtras {
  /** Where the tus endpoint is mounted. Default `/files`. */
  path?: string;
  isGlobal?: boolean;
  /** Guards for the tus routes, like `@UseGuards()` on a controller of yours (after any global guards). */
  guards?: Array<Type<CanActivate> | CanActivate>;
  /** Interceptors for the tus routes, like `@UseInterceptors()`. */
  interceptors?: Array<Type<NestInterceptor> | NestInterceptor>;
  /** Exception filters for the tus routes, like `@UseFilters()` (they see what guards and interceptors throw). */
  filters?: Array<Type<ExceptionFilter> | ExceptionFilter>;
  /** A class implementing {@link TusHooks}, created by Nest's DI in this module. */
  hooks?: Type<TusHooks>;
  /** Modules that the hooks and route enhancers need for their own dependencies. */
  imports?: ModuleMetadata['imports'];
}

export interface ResolvedTusS3Options {
  bucket: string;
  s3?: S3ClientConfig;
  s3Client?: S3Client;
  objectPrefix: string;
  minPartSize: number;
  preferredPartSize: number;
  maxPartSize: number;
  equalParts: boolean;
  maxMultipartParts: number;
  maxObjectSize: number;
  maxSize: number;
  partUploadConcurrency: number;
  memoryBudget: number;
  tempDir?: string;
  holdBackIn: 's3' | 'redis';
  cors?: { origins: '*' | string[]; credentials: boolean; maxAgeSeconds: number };
  redis: { urls: string[]; clients?: Redis[]; keyPrefix: string };
  lock: Partial<LockOptions>;
  copyOnFinish?: { bucket: string; prefix: string; multipartAbove?: number; partSize?: number };
  announcementGraceMs: number;
  announcementScanMs: number;
  trustProxy: boolean;
  createBucket: boolean;
  /** The largest upload stored whole (see TusS3ModuleOptions.storeWholeUpTo); 0: none. */
  storeWholeUpTo: number;
  terminateFinished: boolean;
  idleTimeoutMs: number;
  /** The extensions switched on (the store may still lack one: OPTIONS lists what both allow). */
  extensions: ReadonlySet<TusExtension>;
  /** `undefined`: not set (on when prom-client is installed). */
  metrics: TusMetricsOptions | false | undefined;
  /** null: uploads never expire. */
  expireAfterMs: number | null;
  /** null: no sweeper. */
  sweepEveryMs: number | null;
  sweepMaxCallsPerMinute: number;
  tagIncomplete: boolean;
}

export class TusS3OptionsError extends Error {
  constructor(problems: string[]) {
    super(`TusS3Module options are invalid:\n  - ${problems.join('\n  - ')}`);
    this.name = 'TusS3OptionsError';
  }
}

const MiB = 1024 * 1024;
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Fills defaults and checks every option at boot, so a bad config fails loudly before the first upload. */
export function resolveOptions(options: TusS3ModuleOptions): ResolvedTusS3Options {
  const problems: string[] = [];
  const positiveInt = (name: string, value: number | undefined, fallback: number): number => {
    const v = value ?? fallback;
    if (!Number.isSafeInteger(v) || v <= 0) problems.push(`${name} must be a positive integer, got ${String(value)}`);
    return v;
  };

  if (!options || typeof options.bucket !== 'string' || !BUCKET_NAME.test(options.bucket)) {
    problems.push(
      `bucket must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens), got ${JSON.stringify(options?.bucket)}`,
    );
  }
  const objectPrefix = options?.objectPrefix ?? '';
  if (typeof objectPrefix !== 'string' || objectPrefix.startsWith('/') || objectPrefix.length > 128) {
    problems.push('objectPrefix must be a string of at most 128 characters that does not start with "/"');
  }
  const minPartSize = positiveInt('partSize.min', options?.partSize?.min, S3_LIMITS.minPartSize);
  const preferredPartSize = positiveInt('partSize.preferred', options?.partSize?.preferred, 8 * MiB);
  const maxPartSize = positiveInt('partSize.max', options?.partSize?.max, S3_LIMITS.maxPartSize);
  if (preferredPartSize < minPartSize) problems.push('partSize.preferred must be at least partSize.min');
  if (maxPartSize < preferredPartSize) problems.push('partSize.max must be at least partSize.preferred');
  const maxMultipartParts = positiveInt('maxMultipartParts', options?.maxMultipartParts, S3_LIMITS.maxMultipartParts);
  const maxObjectSize = positiveInt('maxObjectSize', options?.maxObjectSize, S3_LIMITS.maxObjectSize);
  const maxSize = positiveInt('maxSize', options?.maxSize, maxObjectSize);
  if (maxSize > maxObjectSize) problems.push('maxSize cannot exceed maxObjectSize');
  if (Math.ceil(maxSize / maxMultipartParts) > maxPartSize) {
    problems.push(`maxSize ${maxSize} cannot be stored in ${maxMultipartParts} parts of at most ${maxPartSize} bytes`);
  }
  const partUploadConcurrency = positiveInt('partUploadConcurrency', options?.partUploadConcurrency, 4);
  const memoryBudget = options?.memoryBudget ?? (partUploadConcurrency + 1) * preferredPartSize;
  if (!Number.isSafeInteger(memoryBudget) || memoryBudget < 0) {
    problems.push(`memoryBudget must be a non-negative integer (bytes), got ${String(options?.memoryBudget)}`);
  }
  const storeWholeUpTo = resolveStoreWholeUpTo(options, preferredPartSize, problems);
  const idleTimeoutMs = options?.idleTimeoutMs ?? 60_000;
  if (!Number.isSafeInteger(idleTimeoutMs) || idleTimeoutMs < 0) {
    problems.push(`idleTimeoutMs must be a non-negative integer, got ${String(options?.idleTimeoutMs)}`);
  }

  let cors: ResolvedTusS3Options['cors'];
  if (options?.cors) {
    const { origins } = options.cors;
    if (origins !== '*' && !(Array.isArray(origins) && origins.every((o) => typeof o === 'string'))) {
      problems.push('cors.origins must be "*" or an array of origins');
    }
    if (origins === '*' && options.cors.credentials) problems.push('cors.credentials cannot be used with origins "*"');
    cors = {
      origins,
      credentials: options.cors.credentials ?? false,
      maxAgeSeconds: options.cors.maxAgeSeconds ?? 86400,
    };
  }

  const urls = (options?.redis?.urls ?? []).map((u) => u.trim()).filter(Boolean);
  for (const url of urls) {
    if (!/^rediss?:\/\//.test(url)) problems.push(`redis url must start with redis:// or rediss://, got ${url}`);
  }

  const holdBackIn = options?.holdBackIn ?? 's3';
  if (holdBackIn !== 's3' && holdBackIn !== 'redis')
    problems.push(`holdBackIn must be 's3' or 'redis', got ${String(holdBackIn)}`);
  if (holdBackIn === 'redis' && urls.length === 0 && !options?.redis?.clients?.length) {
    problems.push("holdBackIn 'redis' needs redis.urls (or redis.clients)");
  }

  let copyOnFinish: ResolvedTusS3Options['copyOnFinish'];
  if (options?.copyOnFinish) {
    if (!BUCKET_NAME.test(options.copyOnFinish.bucket ?? ''))
      problems.push('copyOnFinish.bucket must be a valid bucket name');
    const { multipartAbove, partSize } = options.copyOnFinish;
    copyOnFinish = {
      bucket: options.copyOnFinish.bucket,
      prefix: options.copyOnFinish.prefix ?? '',
      ...(multipartAbove !== undefined
        ? { multipartAbove: positiveInt('copyOnFinish.multipartAbove', multipartAbove, 0) }
        : {}),
      ...(partSize !== undefined ? { partSize: positiveInt('copyOnFinish.partSize', partSize, 0) } : {}),
    };
  }

  const switches = options?.extensions ?? {};
  for (const name of Object.keys(switches)) {
    if (!(TUS_ALL_EXTENSIONS as readonly string[]).includes(name))
      problems.push(`extensions: unknown extension ${name}`);
  }
  const extensions = new Set(TUS_ALL_EXTENSIONS.filter((name) => switches[name] !== false));

  const metrics = options?.metrics;
  if (metrics !== undefined && metrics !== false) {
    if (typeof metrics !== 'object' || metrics === null) {
      problems.push('metrics must be false or { registry?, prefix? }');
    } else {
      if (metrics.prefix !== undefined && !/^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/.test(metrics.prefix)) {
        problems.push(`metrics.prefix must be a Prometheus metric name prefix, got ${metrics.prefix}`);
      }
      if (metrics.registry !== undefined && typeof metrics.registry?.getSingleMetric !== 'function') {
        problems.push('metrics.registry must be a prom-client Registry');
      }
    }
  }

  const optionalPositive = (name: string, value: number | undefined): number | null => {
    if (value === undefined) return null;
    if (!Number.isSafeInteger(value) || value <= 0)
      problems.push(`${name} must be a positive integer (ms), got ${String(value)}`);
    return value;
  };
  // Switching the extension off (`extensions: { expiration: false }`) switches expiry off too.
  const expireAfterMs = extensions.has('expiration') ? optionalPositive('expireAfterMs', options?.expireAfterMs) : null;
  const sweepEveryMs = optionalPositive('sweepEveryMs', options?.sweepEveryMs);
  if (sweepEveryMs !== null && expireAfterMs === null) problems.push('sweepEveryMs needs expireAfterMs');
  const sweepMaxCallsPerMinute = positiveInt('sweepMaxCallsPerMinute', options?.sweepMaxCallsPerMinute, 600);
  if (options?.tagIncomplete !== undefined && typeof options.tagIncomplete !== 'boolean')
    problems.push('tagIncomplete must be a boolean');

  if (problems.length > 0) throw new TusS3OptionsError(problems);
  return {
    bucket: options.bucket,
    s3: options.s3,
    s3Client: options.s3Client,
    objectPrefix,
    minPartSize,
    preferredPartSize,
    maxPartSize,
    equalParts: options.equalParts ?? false,
    maxMultipartParts,
    maxObjectSize,
    maxSize,
    partUploadConcurrency,
    memoryBudget,
    tempDir: options.tempDir,
    holdBackIn,
    cors,
    redis: { urls, clients: options.redis?.clients, keyPrefix: options.redis?.keyPrefix ?? 'tus:' },
    lock: options.lock ?? {},
    copyOnFinish,
    announcementGraceMs: options.announcementGraceMs ?? 10_000,
    announcementScanMs: options.announcementScanMs ?? 60_000,
    trustProxy: options.trustProxy ?? false,
    createBucket: options.createBucket ?? false,
    terminateFinished: options.terminateFinished ?? true,
    storeWholeUpTo,
    idleTimeoutMs,
    extensions,
    metrics,
    expireAfterMs,
    sweepEveryMs,
    sweepMaxCallsPerMinute,
    tagIncomplete: options.tagIncomplete ?? true,
  };
}

/** `storeWholeUpTo`, or what the deprecated `storeSmallUploadsWhole` says (the two must not disagree). */
function resolveStoreWholeUpTo(options: TusS3ModuleOptions, preferredPartSize: number, problems: string[]): number {
  const { storeWholeUpTo, storeSmallUploadsWhole } = options ?? {};
  if (storeSmallUploadsWhole !== undefined && typeof storeSmallUploadsWhole !== 'boolean')
    problems.push('storeSmallUploadsWhole must be a boolean');
  if (storeWholeUpTo === undefined) return storeSmallUploadsWhole === false ? 0 : 2 * preferredPartSize;
  if (!Number.isSafeInteger(storeWholeUpTo) || storeWholeUpTo < 0 || storeWholeUpTo > S3_LIMITS.maxPartSize) {
    problems.push(
      `storeWholeUpTo must be a number of bytes from 0 to ${S3_LIMITS.maxPartSize} (S3's PutObject limit), got ${String(storeWholeUpTo)}`,
    );
  }
  if (storeSmallUploadsWhole === false && storeWholeUpTo > 0)
    problems.push('storeSmallUploadsWhole: false contradicts storeWholeUpTo; set storeWholeUpTo alone (0: never)');
  return storeWholeUpTo;
}

/** The mount path, normalized to a leading slash and no trailing one. */
export function normalizeMountPath(path: string | undefined): string {
  const p = (path ?? '/files').trim();
  if (!/^\/?[A-Za-z0-9._~\-/]*$/.test(p)) throw new TusS3OptionsError([`path must be a URL path, got ${p}`]);
  const withSlash = p.startsWith('/') ? p : `/${p}`;
  return withSlash.length > 1 ? withSlash.replace(/\/+$/, '') : withSlash;
}
