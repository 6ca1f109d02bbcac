import { DeleteObjectCommand, DeleteObjectsCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { Logger } from '@nestjs/common';
import { FakeS3 } from '../../../../test/support/fake-s3';
import { S3Objects } from './s3-objects';

const s3 = new FakeS3();
const put = (...keys: string[]) => keys.forEach((key) => s3.objects.set(`b/${key}`, { body: Buffer.from(key) }));

describe('S3Objects.deleteMany', () => {
  let objects: S3Objects;
  beforeEach(() => {
    s3.reset();
    objects = new S3Objects(new S3Client({ region: 'us-east-1' }), 'b');
  });

  it('deletes many objects with one DeleteObjects per 1,000 keys', async () => {
    const keys = Array.from({ length: 1001 }, (_, i) => `u.chunk.${i}`);
    put(...keys, 'other');
    await objects.deleteMany(keys);
    expect(s3.mock.commandCalls(DeleteObjectsCommand)).toHaveLength(1);
    expect(s3.mock.commandCalls(DeleteObjectCommand)).toHaveLength(1); // the 1,001st, alone
    expect([...s3.objects.keys()]).toEqual(['b/other']);
  });

  it('logs the keys S3 could not delete instead of failing: the caller no longer refers to them', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    s3.mock.on(DeleteObjectsCommand).resolves({
      Errors: [
        { Key: 'u.chunk.1', Code: 'AccessDenied', Message: 'no' },
        { Key: 'u.chunk.2', Code: 'NoSuchKey' },
      ],
    });
    await objects.deleteMany(['u.chunk.1', 'u.chunk.2']);
    expect(warn.mock.calls.map(([line]) => String(line))).toEqual([expect.stringContaining('u.chunk.1: AccessDenied')]);
    warn.mockRestore();
  });

  it('falls back to one DeleteObject per key, for good, on a service without DeleteObjects', async () => {
    s3.mock
      .on(DeleteObjectsCommand)
      .rejects(
        new S3ServiceException({ name: 'NotImplemented', $fault: 'server', $metadata: { httpStatusCode: 501 } }),
      );
    put('a', 'b', 'c', 'd');
    await objects.deleteMany(['a', 'b']);
    await objects.deleteMany(['c', 'd']);
    expect(s3.mock.commandCalls(DeleteObjectsCommand)).toHaveLength(1);
    expect(s3.mock.commandCalls(DeleteObjectCommand)).toHaveLength(4);
    expect(s3.objects.size).toBe(0);
  });

  it('fails with a StorageError when S3 does not answer', async () => {
    s3.mock.on(DeleteObjectsCommand).rejects(new Error('socket hang up'));
    await expect(objects.deleteMany(['a', 'b'])).rejects.toThrow('could not delete 2 objects');
  });
});
