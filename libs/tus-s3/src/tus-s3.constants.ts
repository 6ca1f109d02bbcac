/** Injection tokens: every collaborator of the module can be replaced with `overrideProvider(TOKEN)`. */
export const TUS_S3_CLIENT = Symbol('TUS_S3_CLIENT');
/** The tus data store ({@link TusDataStore}); the module provides its `S3Store`. */
export const TUS_STORE = Symbol('TUS_STORE');
export const TUS_LOCKER = Symbol('TUS_LOCKER');
/** The validated options with defaults filled in ({@link ResolvedTusS3Options}). */
export const TUS_S3_OPTIONS = Symbol('TUS_S3_OPTIONS');
/** `{ now(): Date }`: stamps createdAt/finishedAt, so tests can pin time. */
export const TUS_CLOCK = Symbol('TUS_CLOCK');
/** `() => string`: new upload ids; results must match UPLOAD_ID_PATTERN. */
export const TUS_ID_GENERATOR = Symbol('TUS_ID_GENERATOR');
/** Internal: where held-back bytes go with `holdBackIn: 'redis'` (see store/). */
export const TUS_HELD_BYTES = Symbol('TUS_HELD_BYTES');
/** The Redis clients the Redlock locker uses (empty array: the in-memory locker). */
export const TUS_REDIS_CLIENTS = Symbol('TUS_REDIS_CLIENTS');
/** The module's Prometheus metrics (a TusMetrics), or null when metrics are off (`metrics: false`, no prom-client). */
export const TUS_METRICS = Symbol('TUS_METRICS');

export interface Clock {
  now(): Date;
}
export type IdGenerator = () => string;
/** The app's {@link TusHooks} (the `hooks` class given to the module), or an empty object. */
export const TUS_HOOKS = Symbol('TUS_HOOKS');
/** Where the tus controller is mounted (the `path` extra, normalized), for resolving upload URLs. */
export const TUS_MOUNT_PATH = Symbol('TUS_MOUNT_PATH');
/** The tus controller class made for this module's mount path (the middleware is bound to its routes). */
export const TUS_CONTROLLER = Symbol('TUS_CONTROLLER');
