import { randomBytes } from 'node:crypto';

/**
 * The demo reads its configuration from the environment when its module is loaded: import this first, so the
 * demo under test gets a path, bucket and prefix of its own, and keeps held-back bytes in Redis.
 */
export const DEMO_ENV = {
  TUS_PATH: '/uploads',
  S3_BUCKET: 'tus-demo-e2e',
  S3_OBJECT_PREFIX: `demo-${randomBytes(4).toString('hex')}/`,
  TUS_HOLD_BACK_IN: 'redis',
} as const;

Object.assign(process.env, DEMO_ENV);
