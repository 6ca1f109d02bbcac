export * from './locker.interface';
export { DEFAULT_LOCK_OPTIONS } from './locker-options';
export type { LockOptions } from './locker-options';
export { MemoryLocker } from './memory-locker';
export { RedlockLocker } from './redlock-locker';
export type { RedlockLockerOptions } from './redlock-locker';
export { createRedisClients, LOCK_REDIS_OPTIONS } from './redis-clients';
