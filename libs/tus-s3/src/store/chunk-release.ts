import type { Readable } from 'node:stream';
import { isArrayBuffer } from 'node:util/types';
import { MessageChannel, MessagePort } from 'node:worker_threads';

/** Frees the memory of a chunk that nothing reads any more (ChunkRelease.free, MemoryBudget.adopt). */
export type FreeChunk = (chunk: Buffer) => void;

/**
 * Frees a received chunk's memory once its bytes are copied, instead of whenever V8 next collects it.
 *
 * Node's HTTP parser hands each socket read of a body (up to 64 KiB) to JavaScript as a buffer of its own. The store
 * copies it into a slab at once, so it is dead right away; but V8 frees its memory only at the next young collection,
 * and until then counts it against the old generation's limit. On the small heap of a typical app, the dead chunks
 * of a fast upload reach that limit every few hundred milliseconds, and V8 runs mark-compact after mark-compact
 * (docs/ARCHITECTURE.md, "Dying young is not all"): the server's CPU per byte doubled in the benchmark.
 *
 * Transferring an ArrayBuffer detaches it. Posted to a port whose other end is closed, the message is dropped at
 * once and the memory with it (the HTML spec, which Node follows, detaches transferred buffers even then). That costs
 * a microsecond or two per chunk.
 *
 * Only a chunk nobody else can see may go: the whole of its ArrayBuffer (not a view into a pool or into another
 * buffer), from a body nobody else reads. A 'data' listener (a logging middleware, a `pipe` to somewhere) may keep
 * the chunk, so a body with one keeps its chunks to the collector.
 */
export class ChunkRelease {
  private constructor(private readonly body: Readable) {}

  /** For a body whose chunks are the caller's alone (`owned`); undefined otherwise, so that nothing is released. */
  static of(body: Readable, owned: boolean | undefined): ChunkRelease | undefined {
    return owned ? new ChunkRelease(body) : undefined;
  }

  /** Frees `chunk`'s memory if nobody else can see it; the caller must not use it afterwards. */
  release(chunk: Buffer): void {
    if (this.ownsChunks()) ChunkRelease.free(chunk);
  }

  /** Whether the chunks the body delivers now are the caller's alone (nobody else listens to it). */
  private ownsChunks(): boolean {
    return this.body.listenerCount('data') === 0;
  }

  /**
   * Frees `chunk`'s memory if it is the whole of its ArrayBuffer. The caller vouches that nothing else uses the chunk
   * or its bytes (a socket that still has them queued does); it must not use it afterwards either.
   */
  static free(this: void, chunk: Buffer): void {
    const memory = chunk.buffer;
    // (A SharedArrayBuffer may be shared with other threads.)
    if (!isArrayBuffer(memory) || chunk.byteOffset !== 0 || chunk.byteLength !== memory.byteLength) return;
    droppingPort().drop(memory);
  }

  /** Resolves once chunks can be released: until then (a few microseconds after the first use), none is. */
  static ready(): Promise<void> {
    return droppingPort().ready;
  }
}

/** A port whose other end is closed: what is posted to it is dropped at once, once the close has taken effect. */
class DroppingPort {
  private readonly port: MessagePort;
  private closed = false;
  readonly ready: Promise<void>;

  constructor() {
    const channel = new MessageChannel();
    this.port = channel.port1;
    this.ready = new Promise((resolve) =>
      this.port.once('close', () => {
        this.closed = true;
        resolve();
      }),
    );
    // Neither end may keep the process alive.
    this.port.unref();
    channel.port2.close();
  }

  /** Detaches `memory`, and frees it if the close took effect (before that, a message would wait in a queue). */
  drop(memory: ArrayBuffer): void {
    if (!this.closed) return;
    try {
      this.port.postMessage(null, [memory]);
    } catch {
      // Not transferable (Node marks some of its own buffers so): the collector frees it as before.
    }
  }
}

let dropping: DroppingPort | undefined;

function droppingPort(): DroppingPort {
  return (dropping ??= new DroppingPort());
}
