/**
 * Integration tests against real redis-server processes started here, three independent masters on free ports.
 * Masters are killed and restarted on the same port to simulate outages; clients must recover on their own.
 */
import Redis from 'ioredis';
import { freePorts, RedisMaster, waitForRedisServerBinary } from '../../../../test/support/redis-masters';
import {
  LockerHooks,
  LockInterruptedError,
  LockTimeoutError,
  LockUnavailableError,
  UploadLock,
} from './locker.interface';
import { createRedisClients } from './redis-clients';
import { RedlockLocker, RedlockLockerOptions } from './redlock-locker';

// @nestjs/common 12 is ESM-only, which Jest cannot require on Node 20; only its Logger is used here, so stand in
// for it (which also lets the tests read what was logged).
const mockLogLines: string[] = [];
jest.mock('@nestjs/common', () => ({
  Logger: class {
    constructor(private readonly context = '') {}
    log(message: string) {
      mockLogLines.push(`log ${this.context}: ${message}`);
    }
    warn(message: string) {
      mockLogLines.push(`warn ${this.context}: ${message}`);
    }
    error(message: string) {
      mockLogLines.push(`error ${this.context}: ${message}`);
    }
    debug() {}
  },
}));

jest.setTimeout(20_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const allReady = (clients: Redis[]) => () => clients.every((client) => client.status === 'ready');

function interruption(signal: AbortSignal): Promise<LockInterruptedError> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason as LockInterruptedError);
    else signal.addEventListener('abort', () => resolve(signal.reason as LockInterruptedError), { once: true });
  });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('RedlockLocker against three Redis masters', () => {
  let masters: RedisMaster[];
  let spare: RedisMaster;
  const clientSets: Redis[][] = [];
  const lockers: RedlockLocker[] = [];

  /** An app instance: its own clients, its own locker. */
  async function instance(
    options: Partial<RedlockLockerOptions> = {},
    only?: RedisMaster[],
    hooks?: LockerHooks,
  ): Promise<RedlockLocker> {
    const clients = createRedisClients((only ?? masters).map((master) => master.url));
    clientSets.push(clients);
    await waitUntil(allReady(clients), 5_000, 'clients to connect');
    const locker = new RedlockLocker(clients, { waitMs: 2_000, ...options }, undefined, hooks);
    lockers.push(locker);
    return locker;
  }

  async function restart(...which: RedisMaster[]): Promise<void> {
    await Promise.all(which.map((master) => master.start()));
    // Every client connected to these masters reconnects by itself (backoff capped at 2 s).
    const affected = clientSets.flat().filter((client) => which.some((m) => client.options.port === m.port));
    await waitUntil(allReady(affected), 8_000, 'clients to reconnect');
  }

  beforeAll(async () => {
    await waitForRedisServerBinary();
    masters = (await freePorts(4)).map((port) => new RedisMaster(port));
    await Promise.all(masters.map((master) => master.start()));
    // The fourth master is only for the logging test; lockers use the first three.
    spare = masters.pop()!;
  });

  afterAll(async () => {
    await Promise.all(lockers.map((locker) => locker.close()));
    for (const client of clientSets.flat()) client.disconnect();
    await Promise.all([...masters, spare].map((master) => master.stop()));
  });

  it('lets only one of two instances hold an upload at a time', async () => {
    const [a, b] = [await instance({ waitMs: 3_000 }), await instance({ waitMs: 3_000 })];
    let inside = 0;
    let mostInside = 0;
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, async (_, i) => {
        const lock = await (i % 2 ? a : b).lock('exclusive');
        inside++;
        mostInside = Math.max(mostInside, inside);
        await sleep(30);
        inside--;
        await lock.release();
      }),
    );
    expect(mostInside).toBe(1);
    const failures = outcomes.filter((outcome) => outcome.status === 'rejected');
    for (const failure of failures) expect(failure.reason).toBeInstanceOf(LockTimeoutError);
    expect(failures.length).toBeLessThan(outcomes.length / 2);
  });

  it('asks the holder on another instance to release, then hands over promptly', async () => {
    const [a, b] = [await instance(), await instance({ waitMs: 3_000 })];
    const holder = await a.lock('handover');
    const waiting = b.lock('handover');
    const reason = await interruption(holder.signal);
    expect(reason).toBeInstanceOf(LockInterruptedError);
    expect(reason.why).toBe('release-requested');
    expect(holder.lost.aborted).toBe(false);
    expect(() => holder.assertHeld()).not.toThrow();

    await sleep(150); // the holder saves what it has
    const releasedAt = Date.now();
    await holder.release();
    const next = await waiting;
    expect(Date.now() - releasedAt).toBeLessThan(500);
    expect(next.signal.aborted).toBe(false);
    await next.release();
  });

  it('a waiter tries again as soon as the holder it asked says it let go, not after its pause', async () => {
    const [a, b] = [await instance(), await instance({ waitMs: 10_000, retryDelayMs: 3_000, retryJitterMs: 0 })];
    const holder = await a.lock('released-message');
    const waiting = b.lock('released-message');
    await interruption(holder.signal);
    await sleep(100); // b pauses now, for 3 s unless told
    const releasedAt = Date.now();
    await holder.release();
    const next = await waiting;
    expect(Date.now() - releasedAt).toBeLessThan(1_000);
    await next.release();
  });

  it('does not interrupt a lock with the echo of its own release request', async () => {
    // Retrying exactly when the request is repeated makes the last request still be in flight on the masters
    // while this waiter acquires the lock, so its echo reaches the new holder.
    const [a, b] = [await instance(), await instance({ waitMs: 3_000, retryDelayMs: 500, retryJitterMs: 0 })];
    const holder = await a.lock('echo');
    const waiting = b.lock('echo');
    await interruption(holder.signal);
    await holder.release();
    const next = await waiting;
    await sleep(100);
    expect(next.signal.aborted).toBe(false);
    await next.release();
  });

  it('gives up with LockTimeoutError after waitMs when the holder does not let go', async () => {
    const [a, b] = [await instance(), await instance({ waitMs: 500 })];
    const holder = await a.lock('stubborn');
    const startedAt = Date.now();
    expect(await rejection(b.lock('stubborn'))).toBeInstanceOf(LockTimeoutError);
    const waited = Date.now() - startedAt;
    expect(waited).toBeGreaterThanOrEqual(490);
    expect(waited).toBeLessThan(800);
    await holder.release();
  });

  it('keeps a lock alive past its TTL by extending it', async () => {
    const [a, b] = [await instance({ ttlMs: 1_000 }), await instance({ waitMs: 0 })];
    const holder = await a.lock('long');
    await sleep(2_500);
    expect(holder.signal.aborted).toBe(false);
    expect(() => holder.assertHeld()).not.toThrow();
    expect(await rejection(b.lock('long'))).toBeInstanceOf(LockTimeoutError);
    await holder.release();
    await holder.release();
    const next = await b.lock('long');
    await next.release();
  });

  it('keeps working with one master of three down', async () => {
    const [a, b] = [await instance(), await instance({ waitMs: 300 })];
    await masters[2].stop();
    try {
      const holder = await a.lock('degraded');
      expect(await rejection(b.lock('degraded'))).toBeInstanceOf(LockTimeoutError);
      await holder.release();
      const next = await b.lock('degraded');
      await next.release();
    } finally {
      await restart(masters[2]);
    }
  });

  it('uses a restarted master again without a new locker', async () => {
    const a = await instance();
    await masters[0].stop();
    await restart(masters[0]);
    // Quorum now needs the restarted master.
    await masters[1].stop();
    try {
      const lock = await a.lock('restarted');
      await lock.release();
    } finally {
      await restart(masters[1]);
    }
  });

  it('fails fast with LockUnavailableError when all masters are down, and recovers', async () => {
    const a = await instance({ waitMs: 5_000 });
    await Promise.all(masters.map((master) => master.stop()));
    try {
      const startedAt = Date.now();
      expect(await rejection(a.lock('outage'))).toBeInstanceOf(LockUnavailableError);
      expect(Date.now() - startedAt).toBeLessThan(2_000);
    } finally {
      await restart(...masters);
    }
    const lock = await a.lock('outage');
    await lock.release();
  });

  it('fails with LockUnavailableError when masters hang, even with clients that queue commands', async () => {
    // Clients as a user might create them: offline queue on, no command timeout.
    const clients = masters.map((master) => new Redis(master.url));
    clientSets.push(clients);
    await waitUntil(allReady(clients), 5_000, 'clients to connect');
    const locker = new RedlockLocker(clients, { waitMs: 5_000, operationTimeoutMs: 500 });
    lockers.push(locker);
    masters.forEach((master) => master.freeze());
    try {
      const startedAt = Date.now();
      expect(await rejection(locker.lock('hung'))).toBeInstanceOf(LockUnavailableError);
      expect(Date.now() - startedAt).toBeLessThan(2_000);
    } finally {
      masters.forEach((master) => master.thaw());
    }
    const lock = await locker.lock('hung');
    await lock.release();
  });

  it('tells the holder "lost" at once when a quorum of masters goes away', async () => {
    const a = await instance({ ttlMs: 1_000 });
    const holder = await a.lock('quorum-lost');
    await Promise.all([masters[0].stop(), masters[1].stop()]);
    try {
      const startedAt = Date.now();
      const reason = await interruption(holder.lost);
      expect(reason.why).toBe('lost');
      // The next extension (every ttl/3) fails, well before the lock would expire.
      expect(Date.now() - startedAt).toBeLessThan(700);
      expect((holder.signal.reason as LockInterruptedError).why).toBe('lost');
      expect(() => holder.assertHeld()).toThrow(LockInterruptedError);
      await expect(holder.release()).resolves.toBeUndefined();
    } finally {
      await restart(masters[0], masters[1]);
    }
  });

  it('tells the holder "lost" when a quorum of masters forgot the lock', async () => {
    const a = await instance({ ttlMs: 1_000 });
    const holder: UploadLock = await a.lock('forgotten');
    const admin = new Redis(masters[0].url);
    const admin2 = new Redis(masters[1].url);
    try {
      await Promise.all([admin.flushall(), admin2.flushall()]);
      const reason = await interruption(holder.lost);
      expect(reason.why).toBe('lost');
      expect(() => holder.assertHeld()).toThrow(LockInterruptedError);
    } finally {
      admin.disconnect();
      admin2.disconnect();
      await holder.release();
    }
  });

  it('hears release requests again after its master restarted (re-subscription)', async () => {
    const only = [masters[0]];
    const [a, b] = [await instance({}, only), await instance({ waitMs: 3_000 }, only)];
    await (await a.lock('resubscribe')).release(); // subscribes
    await sleep(200);
    await masters[0].stop();
    await restart(masters[0]);

    const holder = await a.lock('resubscribe');
    const waiting = b.lock('resubscribe');
    const reason = await interruption(holder.signal);
    expect(reason.why).toBe('release-requested');
    await holder.release();
    await (await waiting).release();
  });

  it('on close, asks holders to release and waits for them', async () => {
    const [a, b] = [await instance(), await instance({ waitMs: 0 })];
    const holder = await a.lock('closing-politely');
    void interruption(holder.signal).then(() => sleep(100).then(() => holder.release()));
    const startedAt = Date.now();
    await a.close(5_000);
    expect(Date.now() - startedAt).toBeLessThan(1_000);
    expect((holder.signal.reason as LockInterruptedError).why).toBe('release-requested');
    expect(holder.lost.aborted).toBe(false);
    expect(await rejection(a.lock('other'))).toBeInstanceOf(LockUnavailableError);
    await (await b.lock('closing-politely')).release();
  });

  it('on close, takes locks from holders that ignore the request after the grace period', async () => {
    const [a, b] = [await instance(), await instance({ waitMs: 0 })];
    const holder = await a.lock('closing-firmly');
    await a.close(200);
    expect((holder.lost.reason as LockInterruptedError).why).toBe('lost');
    expect(() => holder.assertHeld()).toThrow(LockInterruptedError);
    await (await b.lock('closing-firmly')).release();
  });

  it('logs an outage and the recovery once each, not once per reconnect attempt', async () => {
    const [client] = createRedisClients([spare.url]);
    clientSets.push([client]);
    await waitUntil(allReady([client]), 5_000, 'client to connect');
    const about = (line: string) => line.includes(`:${spare.port} `);
    await spare.stop();
    await sleep(1_000); // several reconnect attempts fail meanwhile
    await restart(spare);
    const lines = mockLogLines.filter(about);
    expect(lines.filter((line) => line.includes('unreachable'))).toHaveLength(1);
    expect(lines.filter((line) => line.includes('reachable again'))).toHaveLength(1);
  });

  it('answers ping with how many masters answer and how many a lock needs', async () => {
    const a = await instance();
    await expect(a.ping()).resolves.toEqual({ masters: 3, up: 3, needed: 2 });
    await masters[2].stop();
    try {
      await expect(a.ping()).resolves.toEqual({ masters: 3, up: 2, needed: 2 });
      await masters[1].stop();
      const startedAt = Date.now();
      await expect(a.ping(300)).resolves.toEqual({ masters: 3, up: 1, needed: 2 });
      expect(Date.now() - startedAt).toBeLessThan(1_000); // disconnected masters fail at once
    } finally {
      await restart(masters[1], masters[2]);
    }
    await expect(a.ping()).resolves.toEqual({ masters: 3, up: 3, needed: 2 });
  });

  it('counts a master that hangs as down once ping times out', async () => {
    const clients = masters.map((master) => new Redis(master.url)); // queue commands, no command timeout
    clientSets.push(clients);
    await waitUntil(allReady(clients), 5_000, 'clients to connect');
    const locker = new RedlockLocker(clients);
    lockers.push(locker);
    masters[0].freeze();
    masters[1].freeze();
    try {
      const startedAt = Date.now();
      await expect(locker.ping(300)).resolves.toEqual({ masters: 3, up: 1, needed: 2 });
      expect(Date.now() - startedAt).toBeLessThan(1_000);
    } finally {
      masters[0].thaw();
      masters[1].thaw();
    }
  });

  it('tells its hooks about release requests sent and received, once each despite repeats', async () => {
    const sent: string[] = [];
    const received: string[] = [];
    const a = await instance({}, undefined, { releaseRequestReceived: (id) => received.push(id) });
    const b = await instance({ waitMs: 3_000 }, undefined, { releaseRequested: (id) => sent.push(id) });
    const holder = await a.lock('hooked');
    const waiting = b.lock('hooked');
    await interruption(holder.signal);
    await sleep(1_200); // the waiter repeats its request every 500 ms meanwhile
    await holder.release();
    await (await waiting).release();
    expect(sent).toEqual(['hooked']);
    expect(received).toEqual(['hooked']);
  });
});
