import { randomBytes } from 'node:crypto';

/**
 * The demo reads its configuration from the environment when its module is loaded: import this first, so the
 * demo under test gets a path, bucket and prefix of its own, keeps held-back bytes in Redis, and wants a token of
 * its own (not the default, which the page would fill in).
 */
export const DEMO_ENV = {
  TUS_PATH: '/uploads',
  S3_BUCKET: 'tus-demo-e2e',
  S3_OBJECT_PREFIX: `demo-${randomBytes(4).toString('hex')}/`,
  TUS_HOLD_BACK_IN: 'redis',
  DEMO_TOKEN: `e2e-${randomBytes(8).toString('hex')}`,
} as const;

Object.assign(process.env, DEMO_ENV);

/** The Authorization header the demo under test accepts. */
export const DEMO_AUTH = { Authorization: `Bearer ${DEMO_ENV.DEMO_TOKEN}` } as const;
