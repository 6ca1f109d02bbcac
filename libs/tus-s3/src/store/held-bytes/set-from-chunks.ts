import type { Writable } from 'node:stream';
import { Command } from 'ioredis';

/**
 * `SET key value EX seconds` where the value is a list of buffers, written to the connection as they are.
 *
 * ioredis copies every argument of a command into one new buffer before writing it. For a held-back PATCH body
 * (up to a MiB per segment, the largest thing this module sends to Redis) that is a megabyte allocated and copied
 * per PATCH, on top of joining the received chunks into one value first; at 1 MiB PATCHes those allocations are
 * what drives garbage collection. ioredis hands `toWritable` the socket it is about to write to, so this command
 * writes its header and the chunks there itself (corked, so they leave in one writev) and returns only its tail
 * for ioredis to write after them. Replies and timeouts stay ioredis's business.
 *
 * The key is sent as given: the held-bytes client has no ioredis `keyPrefix` (see createHeldBytesRedis).
 */
export class SetFromChunks extends Command {
  constructor(
    private readonly key: string,
    private readonly chunks: readonly Buffer[],
    private readonly ttlSeconds: number,
  ) {
    // The args are what ioredis shows in errors and debug output; the value is written by toWritable.
    super('set', [key, `<${sizeOf(chunks)} bytes>`, 'EX', String(ttlSeconds)], { replyEncoding: 'utf8' });
  }

  override toWritable(socket: object): string {
    const stream = socket as Writable;
    const ttl = String(this.ttlSeconds);
    stream.cork();
    stream.write(`*5\r\n$3\r\nSET\r\n$${Buffer.byteLength(this.key)}\r\n${this.key}\r\n$${sizeOf(this.chunks)}\r\n`);
    for (const chunk of this.chunks) stream.write(chunk);
    process.nextTick(() => stream.uncork());
    return `\r\n$2\r\nEX\r\n$${ttl.length}\r\n${ttl}\r\n`;
  }
}

export function sizeOf(chunks: readonly Buffer[]): number {
  return chunks.reduce((sum, chunk) => sum + chunk.length, 0);
}
