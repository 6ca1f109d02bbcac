import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { freePorts, RedisMaster, waitForRedisServerBinary } from '../../../../test/support/redis-masters';
import type { Locker } from '../locker/locker.interface';
import { MemoryLocker } from '../locker/memory-locker';
import { createRedisClients } from '../locker/redis-clients';
import { RedlockLocker } from '../locker/redlock-locker';
import type { ResolvedTusS3Options } from '../tus-s3.options';
import { TusHealthIndicator } from './tus-health.indicator';

jest.setTimeout(20_000);

const options = { bucket: 'uploads' } as ResolvedTusS3Options;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function indicator(locker: Locker = new MemoryLocker(), client = new S3Client({ region: 'us-east-1' })) {
  return new TusHealthIndicator(client, options, locker);
}

describe('TusHealthIndicator', () => {
  describe('s3', () => {
    const s3 = mockClient(S3Client);
    afterEach(() => s3.reset());
    afterAll(() => s3.restore());

    it('is up when the bucket answers HeadBucket', async () => {
      s3.on(HeadBucketCommand, { Bucket: 'uploads' }).resolves({});
      const result = await indicator().s3();
      expect(Object.keys(result)).toEqual(['s3']);
      expect(result.s3).toEqual(expect.objectContaining({ status: 'up', bucket: 'uploads' }));
    });

    it('is down, naming the bucket and the error, when HeadBucket fails', async () => {
      s3.on(HeadBucketCommand).rejects(
        Object.assign(new Error('UnknownError'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } }),
      );
      const result = await indicator().s3('storage');
      expect(result.storage.status).toBe('down');
      expect(result.storage.message).toBe('bucket uploads did not answer HeadBucket: NotFound, HTTP 404');
    });

    it('is down when S3 does not answer in time, and cancels the call', async () => {
      s3.on(HeadBucketCommand).callsFake(() => new Promise(() => undefined)); // never answers
      const client = new S3Client({ region: 'us-east-1' });
      const send = jest.spyOn(client, 'send'); // to see the abort signal the indicator passed
      const startedAt = Date.now();
      const result = await indicator(undefined, client).s3('s3', { timeoutMs: 100 });
      expect(Date.now() - startedAt).toBeLessThan(1_000);
      expect(result.s3).toEqual(expect.objectContaining({ status: 'down', message: 'timeout of 100ms exceeded' }));
      const { abortSignal } = send.mock.calls[0][1] as { abortSignal?: AbortSignal };
      expect(abortSignal?.aborted).toBe(true);
    });
  });

  describe('redis', () => {
    it('is up with a note when there is no Redis (in-memory locker)', async () => {
      const result = await indicator(new MemoryLocker()).redis();
      expect(result.redis.status).toBe('up');
      expect(result.redis.message).toMatch(/no Redis/);
    });

    it('is up while a majority of masters answer, down when they do not', async () => {
      const fake = (up: number): Locker => ({
        lock: jest.fn(),
        close: jest.fn(),
        ping: () => Promise.resolve({ masters: 3, up, needed: 2 }),
      });
      expect((await indicator(fake(2)).redis()).redis).toEqual(
        expect.objectContaining({ status: 'up', masters: 3, answering: 2, quorum: 2 }),
      );
      const down = await indicator(fake(1)).redis('locks');
      expect(down.locks).toEqual(
        expect.objectContaining({
          status: 'down',
          message: '1 of 3 Redis lock masters answered PING, 2 are needed for a lock',
        }),
      );
    });

    describe('with real Redlock masters', () => {
      let masters: RedisMaster[];
      let clients: ReturnType<typeof createRedisClients>;
      let locker: RedlockLocker;

      beforeAll(async () => {
        await waitForRedisServerBinary();
        masters = (await freePorts(3, 6460)).map((port) => new RedisMaster(port));
        await Promise.all(masters.map((master) => master.start()));
        clients = createRedisClients(masters.map((master) => master.url));
        locker = new RedlockLocker(clients);
      });

      afterAll(async () => {
        await locker.close();
        clients.forEach((client) => client.disconnect());
        await Promise.all(masters.map((master) => master.stop()));
      });

      it('is up with all masters, still with one down, and down without a quorum', async () => {
        const health = indicator(locker);
        expect((await health.redis()).redis).toEqual(
          expect.objectContaining({ status: 'up', answering: 3, quorum: 2 }),
        );
        await masters[0].stop();
        await sleep(50);
        expect((await health.redis()).redis).toEqual(expect.objectContaining({ status: 'up', answering: 2 }));
        await masters[1].stop();
        await sleep(50);
        const down = await health.redis();
        expect(down.redis.status).toBe('down');
        expect(down.redis.message).toMatch(/^1 of 3/);
      });

      it('is down when every master is gone', async () => {
        await masters[2].stop();
        await sleep(50);
        const startedAt = Date.now();
        const down = await indicator(locker).redis();
        expect(down.redis.status).toBe('down');
        expect(down.redis.message).toMatch(/^0 of 3/);
        expect(Date.now() - startedAt).toBeLessThan(1_500);
      });
    });
  });
});
