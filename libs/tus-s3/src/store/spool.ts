import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { MemoryBudget } from './memory-budget';

/**
 * Bytes a spool may keep in memory outside the budget: below this, a body never touches the disk; on disk, the
 * size of each write (a writev of the chunks as received).
 */
const BATCH_BYTES = 256 * 1024;
/** Memory is taken from the budget in steps of this much, so a part of 8 MiB asks about 8 times, not 128. */
const BUDGET_STEP = 1024 * 1024;
/** Reads from disk in pieces this large: fewer syscalls per part. */
const DISK_READ_BYTES = 1024 * 1024;

/**
 * Bytes of one part (or of a tail to hold back) on their way to S3. UploadPart needs the length up front and we keep
 * receiving while earlier parts upload, so the bytes wait here: in memory, as the chunks the socket delivered (no
 * copy), while the instance's {@link MemoryBudget} allows, and in a temporary file beyond it. The first 256 KiB never
 * need the budget, so a small body never touches the disk; on disk, bytes are written in 256 KiB writevs of the
 * chunks as received rather than one write per socket read.
 */
export class Spool {
  private handle: FileHandle | null = null;
  private path: string | null = null;
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  /** Bytes taken from the budget, given back once on disk or disposed. */
  private granted = 0;
  private written = 0;
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly budget: MemoryBudget | undefined,
  ) {}

  /** @param budget memory shared by all spools of this instance; without one, all but the first 256 KiB go to disk */
  static async create(dir: string | undefined, budget?: MemoryBudget): Promise<Spool> {
    return new Spool(dir ?? tmpdir(), budget);
  }

  get size(): number {
    return this.written + this.bufferedBytes;
  }

  /** Whether the bytes are all in memory (until `close`, more may still go to disk). */
  get inMemory(): boolean {
    return this.path === null;
  }

  /** The bytes as received, when they are all in memory (else undefined): to keep them past `dispose`. */
  memoryChunks(): readonly Buffer[] | undefined {
    return this.path === null ? [...this.buffered] : undefined;
  }

  async write(data: Buffer): Promise<void> {
    if (this.closed) throw new Error('spool is closed');
    this.buffered.push(data);
    this.bufferedBytes += data.length;
    if (this.handle) {
      if (this.bufferedBytes > BATCH_BYTES) await this.flush();
      return;
    }
    if (this.bufferedBytes <= BATCH_BYTES) return;
    const short = this.bufferedBytes - this.granted;
    if (short <= 0) return;
    const step = Math.ceil(short / BUDGET_STEP) * BUDGET_STEP;
    if (this.budget?.tryTake(step)) {
      this.granted += step;
      return;
    }
    // Over budget: this spool goes to disk, and what it held in memory goes back to the budget.
    await this.flush();
    this.releaseMemory();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.handle) await this.flush();
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
  }

  /** The bytes, in order: in-memory bytes as the chunks they were received in (no copy). */
  read(): Readable {
    if (this.path) return createReadStream(this.path, { highWaterMark: DISK_READ_BYTES });
    return Readable.from(this.buffered, { objectMode: false });
  }

  /**
   * The bytes, in order, in groups of at most `size` bytes, for consumers that pay per call: in memory, the received
   * chunks (a chunk across a group boundary is cut, not copied); on disk, one buffer per read.
   */
  async *groups(size: number): AsyncGenerator<Buffer[]> {
    if (!this.path) {
      yield* grouped(this.buffered, size);
      return;
    }
    for await (const piece of createReadStream(this.path, { highWaterMark: size })) yield [piece as Buffer];
  }

  /** Closes and deletes, gives the memory back; never throws, so it can sit in every `finally`. */
  async dispose(): Promise<void> {
    this.closed = true;
    this.buffered = [];
    this.bufferedBytes = 0;
    this.releaseMemory();
    const handle = this.handle;
    this.handle = null;
    await handle?.close().catch(() => undefined);
    if (this.path) await rm(this.path, { force: true }).catch(() => undefined);
  }

  private releaseMemory(): void {
    this.budget?.giveBack(this.granted);
    this.granted = 0;
  }

  private async flush(): Promise<void> {
    if (this.bufferedBytes === 0) return;
    if (!this.handle) {
      this.path = join(this.dir, `tus-s3-${randomBytes(8).toString('hex')}.part`);
      this.handle = await open(this.path, 'wx', 0o600);
    }
    // One writev of the received chunks as they are: no copy into one buffer first.
    let pending = this.buffered;
    const total = this.bufferedBytes;
    this.buffered = [];
    this.bufferedBytes = 0;
    while (pending.length > 0) {
      const { bytesWritten } = await this.handle.writev(pending);
      pending = remainderAfter(pending, bytesWritten);
    }
    this.written += total;
  }
}

/** `chunks` in groups of at most `size` bytes, in order; a chunk across a boundary is cut (a view, not a copy). */
function* grouped(chunks: readonly Buffer[], size: number): Generator<Buffer[]> {
  let group: Buffer[] = [];
  let groupBytes = 0;
  for (let chunk of chunks) {
    while (chunk.length > 0) {
      const piece = chunk.subarray(0, size - groupBytes);
      chunk = chunk.subarray(piece.length);
      group.push(piece);
      groupBytes += piece.length;
      if (groupBytes === size) {
        yield group;
        group = [];
        groupBytes = 0;
      }
    }
  }
  if (groupBytes > 0) yield group;
}

/** What is left of `chunks` once their first `bytes` are written (a short write is rare, but allowed). */
export function remainderAfter(chunks: Buffer[], bytes: number): Buffer[] {
  let skip = bytes;
  let i = 0;
  while (i < chunks.length && skip >= chunks[i].length) skip -= chunks[i++].length;
  const rest = chunks.slice(i);
  if (rest.length > 0 && skip > 0) rest[0] = rest[0].subarray(skip);
  return rest;
}
