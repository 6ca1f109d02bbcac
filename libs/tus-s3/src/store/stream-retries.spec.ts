import { Readable } from 'node:stream';
import { isTransientS3Failure, sendStreamWithRetries } from './stream-retries';
import { StorageError } from './store-errors';

const policy = { attempts: 3, baseDelayMs: 1 };

/** An error as the SDK throws it for an S3 error answer. */
function s3Error(name: string, status: number): Error {
  return Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
}

function networkError(code: string): Error {
  return Object.assign(new Error('socket hang up'), { code });
}

/** A send that reads the body it is given, failing the first `failures.length` attempts with those errors. */
function sender(failures: Error[]) {
  const bodies: string[] = [];
  const send = async (body: Readable): Promise<string> => {
    let text = '';
    for await (const chunk of body) text += (chunk as Buffer).toString();
    bodies.push(text);
    const failure = failures.shift();
    if (failure) throw failure;
    return 'etag';
  };
  return { send, bodies };
}

describe('sendStreamWithRetries (the SDK does not retry stream bodies)', () => {
  it.each([
    ['500 InternalError', s3Error('InternalError', 500)],
    ['503 SlowDown', s3Error('SlowDown', 503)],
    ['a connection reset', networkError('ECONNRESET')],
    ['a broken pipe', networkError('EPIPE')],
  ])('sends again, with a freshly opened body holding all the bytes, after %s', async (_, failure) => {
    const { send, bodies } = sender([failure, failure]);
    const opened = jest.fn(() => Readable.from([Buffer.from('part '), Buffer.from('bytes')]));
    await expect(sendStreamWithRetries(opened, undefined, send, policy)).resolves.toBe('etag');
    expect(opened).toHaveBeenCalledTimes(3);
    expect(bodies).toEqual(['part bytes', 'part bytes', 'part bytes']);
  });

  it('gives up after the policy’s attempts, with the last failure', async () => {
    const last = s3Error('SlowDown', 503);
    const { send } = sender([s3Error('SlowDown', 503), s3Error('SlowDown', 503), last]);
    await expect(sendStreamWithRetries(() => Readable.from(['x']), undefined, send, policy)).rejects.toBe(last);
  });

  it('does not retry what S3 refuses for good (4xx)', async () => {
    const refused = s3Error('NoSuchUpload', 404);
    const { send, bodies } = sender([refused]);
    await expect(sendStreamWithRetries(() => Readable.from(['x']), undefined, send, policy)).rejects.toBe(refused);
    expect(bodies).toHaveLength(1);
  });

  it('does not retry once the signal aborted (the lock was lost)', async () => {
    const controller = new AbortController();
    const send = jest.fn(async () => {
      controller.abort(new Error('lock lost'));
      throw networkError('ECONNRESET');
    });
    await expect(
      sendStreamWithRetries(() => Readable.from(['x']), controller.signal, send, policy),
    ).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(send).toHaveBeenCalledTimes(1);
  });

  it('does not retry when the body itself failed (the bytes to upload could not be read)', async () => {
    const opened = jest.fn(
      () =>
        new Readable({
          read() {
            this.destroy(new Error('held bytes are gone'));
          },
        }),
    );
    const send = async (body: Readable) => {
      for await (const chunk of body) void chunk;
      return 'never';
    };
    await expect(sendStreamWithRetries(opened, undefined, send, policy)).rejects.toBeInstanceOf(StorageError);
    expect(opened).toHaveBeenCalledTimes(1);
  });
});

describe('isTransientS3Failure', () => {
  it.each([
    [s3Error('InternalError', 500), true],
    [s3Error('SlowDown', 503), true],
    [s3Error('TooManyRequests', 429), true],
    [Object.assign(new Error('x'), { name: 'RequestTimeout' }), true],
    [networkError('ECONNRESET'), true],
    [Object.assign(new Error('read ECONNRESET'), { name: 'TimeoutError', code: 'ECONNRESET' }), true],
    [new Error('AWS SDK error wrapper for TimeoutError: read ECONNRESET'), true],
    [new Error('AWS SDK error wrapper for Error: socket hang up'), true],
    [new Error('AWS SDK error wrapper for Error: something else'), false],
    [s3Error('AccessDenied', 403), false],
    [s3Error('NoSuchKey', 404), false],
    [Object.assign(new Error('aborted'), { name: 'AbortError' }), false],
    [new StorageError('could not read the bytes to upload'), false],
    ['a string', false],
  ])('%p: %p', (error, transient) => {
    expect(isTransientS3Failure(error)).toBe(transient);
  });
});
