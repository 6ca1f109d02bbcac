// Where `tus-s3.lifecycle.ts` imports the class from; the strategy lives in held-bytes/ with the rest. Once the
// lifecycle no longer closes it (RedisHeldBytes closes its own connection on shutdown), this file can go.
export { RedisHeldBytes } from './held-bytes/redis-held-bytes';
