import { PassThrough, Readable } from 'node:stream';
import { ChunkRelease } from './chunk-release';

const MiB = 1024 * 1024;

/** A buffer that is the whole of its own ArrayBuffer, as Node's HTTP parser hands a body chunk over. */
const ownChunk = (size: number, fill = 7) => Buffer.alloc(size, fill);

beforeAll(() => ChunkRelease.ready());

describe('ChunkRelease', () => {
  it('frees a chunk that is the whole of its memory, at once', () => {
    const release = ChunkRelease.of(new PassThrough(), true)!;
    const chunk = ownChunk(32 * MiB);
    const before = process.memoryUsage().arrayBuffers;

    release.release(chunk);

    expect(chunk.length).toBe(0);
    expect(chunk.buffer.byteLength).toBe(0);
    // Freed now, not at the next collection.
    expect(before - process.memoryUsage().arrayBuffers).toBeGreaterThanOrEqual(32 * MiB);
  });

  it('releases nothing of a body whose chunks are not the caller’s own', () => {
    expect(ChunkRelease.of(new PassThrough(), false)).toBeUndefined();
    expect(ChunkRelease.of(new PassThrough(), undefined)).toBeUndefined();
  });

  it('leaves a view into a larger buffer alone: the rest of that buffer is someone else’s', () => {
    const release = ChunkRelease.of(new PassThrough(), true)!;
    const whole = ownChunk(1 * MiB, 3);
    const head = whole.subarray(0, 64 * 1024);
    const tail = whole.subarray(64 * 1024);

    release.release(head);
    release.release(tail);

    expect(head.length).toBe(64 * 1024);
    expect(whole.every((byte) => byte === 3)).toBe(true);
  });

  it('leaves a small buffer from Node’s shared pool alone', () => {
    const release = ChunkRelease.of(new PassThrough(), true)!;
    const pooled = Buffer.from('a small body');
    const neighbour = Buffer.from('its neighbour in the pool');
    expect(pooled.buffer).toBe(neighbour.buffer);

    release.release(pooled);

    expect(pooled.toString()).toBe('a small body');
    expect(neighbour.toString()).toBe('its neighbour in the pool');
  });

  it('keeps the chunks of a body someone else listens to (a logging middleware, a pipe)', () => {
    const body = new PassThrough();
    const seen: Buffer[] = [];
    body.on('data', (chunk: Buffer) => seen.push(chunk));
    const release = ChunkRelease.of(body, true)!;
    const chunk = ownChunk(64 * 1024, 9);

    release.release(chunk);

    expect(chunk.length).toBe(64 * 1024);
    expect(chunk.every((byte) => byte === 9)).toBe(true);
  });

  it('leaves memory shared with other threads alone', () => {
    const release = ChunkRelease.of(Readable.from([]), true)!;
    const shared = Buffer.from(new SharedArrayBuffer(64 * 1024));

    release.release(shared);

    expect(shared.length).toBe(64 * 1024);
  });
});
