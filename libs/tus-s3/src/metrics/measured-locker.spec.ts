import * as promClient from 'prom-client';
import { Registry } from 'prom-client';
import { Locker, LockUnavailableError } from '../locker/locker.interface';
import { MemoryLocker } from '../locker/memory-locker';
import { MeasuredLocker } from './measured-locker';
import { TusMetrics } from './tus-metrics';

async function waits(registry: Registry, outcome: string): Promise<{ count: number; sum: number }> {
  const { values } = await registry.getSingleMetric('tus_lock_wait_seconds')!.get();
  const find = (suffix: string) =>
    values.find(
      (v) =>
        (v as { metricName?: string }).metricName === `tus_lock_wait_seconds_${suffix}` && v.labels.outcome === outcome,
    )?.value ?? 0;
  return { count: find('count'), sum: find('sum') };
}

describe('MeasuredLocker', () => {
  let registry: Registry;
  let metrics: TusMetrics;

  beforeEach(() => {
    registry = new Registry();
    metrics = new TusMetrics(promClient, { registry });
  });

  it('times lock waits by outcome and passes the lock through', async () => {
    const locker = new MeasuredLocker(new MemoryLocker({ waitMs: 100 }), metrics);
    const holder = await locker.lock('a');
    await expect(locker.lock('a')).rejects.toThrow(/locked by another request/);
    const waiting = locker.lock('a');
    setTimeout(() => void holder.release(), 50);
    const next = await waiting;
    expect(next.signal.aborted).toBe(false);
    await next.release();

    const acquired = await waits(registry, 'acquired');
    expect(acquired.count).toBe(2);
    expect(acquired.sum).toBeGreaterThanOrEqual(0.04);
    const timedOut = await waits(registry, 'timeout');
    expect(timedOut.count).toBe(1);
    expect(timedOut.sum).toBeGreaterThanOrEqual(0.09);
  });

  it('records an unreachable lock service as unavailable', async () => {
    const failing: Locker = {
      lock: () => Promise.reject(new LockUnavailableError('no quorum')),
      ping: () => Promise.resolve({ masters: 3, up: 0, needed: 2 }),
      close: () => Promise.resolve(),
    };
    const locker = new MeasuredLocker(failing, metrics);
    await expect(locker.lock('a')).rejects.toBeInstanceOf(LockUnavailableError);
    expect((await waits(registry, 'unavailable')).count).toBe(1);
    await expect(locker.ping()).resolves.toEqual({ masters: 3, up: 0, needed: 2 });
  });

  it('passes close() and onModuleDestroy() on to the locker it wraps', async () => {
    const inner = {
      lock: jest.fn(),
      ping: jest.fn(),
      close: jest.fn().mockResolvedValue(undefined),
      onModuleDestroy: jest.fn().mockResolvedValue(undefined),
    };
    const locker = new MeasuredLocker(inner, metrics);
    await locker.close();
    await locker.onModuleDestroy();
    expect(inner.close).toHaveBeenCalledTimes(1);
    expect(inner.onModuleDestroy).toHaveBeenCalledTimes(1);
    await expect(new MeasuredLocker(new MemoryLocker(), metrics).close()).resolves.toBeUndefined();
  });
});
