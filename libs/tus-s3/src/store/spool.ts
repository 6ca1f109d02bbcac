import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { FreeChunk } from './chunk-release';
import { MemoryBudget, SLAB_BYTES } from './memory-budget';

/**
 * Bytes a spool keeps as received, outside the budget, when it gets no slab: below this, a body never touches the
 * disk; on disk, the size of each write (a writev of the chunks as received).
 */
const BATCH_BYTES = 256 * 1024;
/** Reads from disk in pieces this large: fewer syscalls per part. */
const DISK_READ_BYTES = 256 * 1024;
/** A transfer that follows a spool as it fills gets its bytes in pieces this large (see `follow`). */
const FOLLOW_STEP_BYTES = 256 * 1024;

/** What `detach` hands over: the bytes, and how to free their memory. */
export interface DetachedBytes {
  readonly chunks: readonly Buffer[];
  /**
   * Frees one of the chunks once nothing reads it any more (whoever keeps them calls it for each); undefined when
   * somebody else may hold them (chunks as received), so that they are left to the collector.
   */
  readonly free: FreeChunk | undefined;
}

export interface SpoolOptions {
  /**
   * The bytes this spool is to hold (a part): reserved in the budget before the first of them is read, waiting up to
   * `waitMs` for room (see MemoryBudget). Without it, or when the wait is over, slabs are taken while there are
   * some, and the rest goes to disk.
   */
  expectedBytes?: number;
  waitMs?: number;
  /** Stops the wait (the request's lock was lost or is wanted elsewhere). */
  signal?: AbortSignal;
}

/**
 * Bytes of one part (or of a tail to hold back) on their way to S3. UploadPart needs the length up front and we keep
 * receiving while earlier parts upload, so the bytes wait here: copied into slabs of the instance's
 * {@link MemoryBudget} while it has some (see there for why a copy), and in a temporary file beyond it. A spool that
 * gets no slab keeps its first 256 KiB as received, so a small body never touches the disk; on disk, bytes are
 * written in 256 KiB writevs rather than one write per socket read.
 */
export class Spool {
  private handle: FileHandle | null = null;
  private path: string | null = null;
  /** Slabs filled in order; all full but the last, which holds `lastFill` bytes. */
  private slabs: Buffer[] = [];
  /** Slabs this spool reserved in the budget (those it took, and those it may still take). */
  private reservedSlabs = 0;
  private lastFill = 0;
  /** Chunks as received: without slabs (below BATCH_BYTES), or on their way to the file. */
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private written = 0;
  /** Bytes whose slabs `detach` handed over: still this spool's size. */
  private handedOver = 0;
  private closed = false;
  /** Readers following the bytes as they arrive (see `follow`), each woken once the spool holds `until` bytes. */
  private followers: Array<{ until: number; wake: () => void }> = [];
  /** What `detach` handed over: a follower goes on reading it (its new owner frees it only after that). */
  private detached: readonly Buffer[] = [];

  private constructor(
    private readonly dir: string,
    private readonly budget: MemoryBudget | undefined,
  ) {}

  /**
   * @param budget memory shared by all spools of this instance; without one, all but the first 256 KiB go to disk
   */
  static async create(dir: string | undefined, budget?: MemoryBudget, options: SpoolOptions = {}): Promise<Spool> {
    const spool = new Spool(dir ?? tmpdir(), budget);
    if (budget && options.expectedBytes) {
      const slabs = MemoryBudget.slabsFor(options.expectedBytes);
      if (await budget.reserveSlabsWithin(slabs, options.waitMs ?? 0, options.signal)) spool.reservedSlabs = slabs;
    }
    return spool;
  }

  get size(): number {
    return this.written + this.bufferedBytes + this.slabBytes + this.handedOver;
  }

  /** Whether the bytes are all in memory (until `close`, more may still go to disk). */
  get inMemory(): boolean {
    return this.path === null;
  }

  /**
   * Whether the next `bytes` written are sure to stay in memory: the spool has slabs reserved for all of them (see
   * SpoolOptions.expectedBytes), so it never goes to disk meanwhile and can be followed (see `follow`).
   */
  keepsInMemory(bytes: number): boolean {
    return this.inMemory && this.buffered.length === 0 && this.reservedSlabs * SLAB_BYTES >= this.slabBytes + bytes;
  }

  /** @returns whether `data` was copied (the caller may then free it, see ChunkRelease) rather than kept as received */
  async write(data: Buffer): Promise<boolean> {
    if (this.closed) throw new Error('spool is closed');
    if (this.handle || (this.slabs.length === 0 && this.bufferedBytes > 0)) {
      await this.writeAsReceived(data);
      return false;
    }
    let rest = data;
    while (rest.length > 0) {
      if (this.slabs.length === 0 || this.lastFill === SLAB_BYTES) {
        if (!this.canTakeSlab()) {
          if (this.slabs.length > 0) await this.spill();
          await this.writeAsReceived(rest);
          return false;
        }
        this.slabs.push(this.budget!.take());
        this.lastFill = 0;
      }
      const copied = rest.copy(this.slabs[this.slabs.length - 1], this.lastFill);
      this.lastFill += copied;
      rest = rest.subarray(copied);
    }
    if (this.followers.length > 0) this.wakeFollowers(this.slabBytes);
    return true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakeFollowers();
    // A body that ended before its part was full: others may use what it reserved and will not fill.
    if (this.reservedSlabs > this.slabs.length) {
      this.budget?.releaseSlabs(this.reservedSlabs - this.slabs.length);
      this.reservedSlabs = this.slabs.length;
    }
    if (this.handle) await this.flush();
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
  }

  /** The bytes, in order (in memory, views of the slabs or the chunks as received: no copy). */
  read(): Readable {
    if (this.path) return createReadStream(this.path, { highWaterMark: DISK_READ_BYTES });
    return Readable.from(this.memory(), { objectMode: false });
  }

  /**
   * The first `size` bytes, in order, as they arrive, for a transfer that starts before they are all here (a part
   * whose upload overlaps its receiving): handed out 256 KiB at a time (a socket write each, where a full spool hands
   * out a 1 MiB slab), the last piece once all `size` bytes are here. Views, not copies. Only for bytes that stay in
   * memory (see `keepsInMemory`); fails if the spool is closed or disposed with fewer bytes, or goes to disk. Slabs
   * handed over by `detach` are read on: whoever takes them must not free them before such a transfer is over.
   */
  follow(size: number): Readable {
    return Readable.from(this.following(size), { objectMode: false });
  }

  private async *following(size: number): AsyncGenerator<Buffer> {
    let handed = 0;
    while (handed < size) {
      if (!this.inMemory || this.buffered.length > 0)
        throw new Error('the spooled bytes left memory while a transfer followed them');
      const slabs = this.handedOver > 0 ? this.detached : this.slabs;
      const here = Math.min(this.handedOver > 0 ? this.handedOver : this.slabBytes, size);
      const upTo = here === size ? size : here - (here % FOLLOW_STEP_BYTES);
      if (upTo > handed) {
        const at = handed % SLAB_BYTES;
        const piece = slabs[Math.floor(handed / SLAB_BYTES)].subarray(at, Math.min(SLAB_BYTES, at + upTo - handed));
        handed += piece.length;
        yield piece;
      } else if (this.closed) {
        throw new Error(`the spool ended after ${this.slabBytes} of the ${size} bytes a transfer expected`);
      } else {
        const until = Math.min(handed + FOLLOW_STEP_BYTES, size);
        await new Promise<void>((wake) => this.followers.push({ until, wake }));
      }
    }
  }

  /**
   * The bytes, in order, in groups of at most `size` bytes, for consumers that pay per call: in memory, views (a
   * piece across a group boundary is cut, not copied); on disk, one buffer per read.
   */
  async *groups(size: number): AsyncGenerator<Buffer[]> {
    if (!this.path) {
      yield* grouped(this.memory(), size);
      return;
    }
    for await (const piece of createReadStream(this.path, { highWaterMark: size })) yield [piece as Buffer];
  }

  /**
   * The in-memory bytes, for the caller to keep past `dispose` (a cache of what was stored), or undefined when they
   * are on disk; the spool reads nothing more afterwards. Chunks kept as received (a spool that got no slab) are
   * handed over as they are. Slabs go themselves, uncopied, one chunk each, all full but the last (views of them: keep
   * each whole, never split it between holders), to come back to the budget through `free` (MemoryBudget.adopt).
   */
  detach(): DetachedBytes | undefined {
    if (this.path) return undefined;
    if (this.slabs.length === 0) return { chunks: [...this.buffered], free: undefined };
    // Slabs only ever come from the budget.
    const budget = this.budget!;
    const chunks = this.memory();
    this.detached = chunks;
    this.handedOver += this.slabBytes;
    budget.disown(this.slabs.length);
    this.slabs = [];
    this.lastFill = 0;
    this.releaseSlabs();
    this.wakeFollowers();
    return { chunks, free: budget.adopt };
  }

  /** Closes and deletes, gives the slabs back; never throws, so it can sit in every `finally`. */
  async dispose(): Promise<void> {
    this.closed = true;
    this.releaseSlabs();
    this.wakeFollowers();
    this.buffered = [];
    this.bufferedBytes = 0;
    const handle = this.handle;
    this.handle = null;
    await handle?.close().catch(() => undefined);
    if (this.path) await rm(this.path, { force: true }).catch(() => undefined);
  }

  /** Wakes the followers waiting for at most `bytes` (all of them by default: the spool changed otherwise). */
  private wakeFollowers(bytes = Infinity): void {
    const woken = this.followers.filter((follower) => follower.until <= bytes);
    if (woken.length === 0) return;
    this.followers = this.followers.filter((follower) => follower.until > bytes);
    for (const follower of woken) follower.wake();
  }

  private get slabBytes(): number {
    return this.slabs.length === 0 ? 0 : (this.slabs.length - 1) * SLAB_BYTES + this.lastFill;
  }

  private memory(): Buffer[] {
    if (this.slabs.length === 0) return [...this.buffered];
    return this.slabs.map((slab, i) => (i === this.slabs.length - 1 ? slab.subarray(0, this.lastFill) : slab));
  }

  private async writeAsReceived(data: Buffer): Promise<void> {
    this.buffered.push(data);
    this.bufferedBytes += data.length;
    this.wakeFollowers();
    if (this.bufferedBytes > BATCH_BYTES) await this.flush();
  }

  /** The budget is spent: what the slabs hold goes to the file, and the slabs back to the budget. */
  private async spill(): Promise<void> {
    this.buffered = [...this.memory(), ...this.buffered];
    this.bufferedBytes += this.slabBytes;
    await this.flush();
    this.releaseSlabs();
  }

  /** Whether one more slab is this spool's: reserved already, or reserved now. */
  private canTakeSlab(): boolean {
    if (!this.budget) return false;
    if (this.slabs.length < this.reservedSlabs) return true;
    if (!this.budget.reserveSlabs(1)) return false;
    this.reservedSlabs++;
    return true;
  }

  private releaseSlabs(): void {
    for (const slab of this.slabs) this.budget?.giveBack(slab);
    this.slabs = [];
    this.lastFill = 0;
    if (this.reservedSlabs > 0) this.budget?.releaseSlabs(this.reservedSlabs);
    this.reservedSlabs = 0;
  }

  private async flush(): Promise<void> {
    if (this.bufferedBytes === 0) return;
    if (!this.handle) {
      this.path = join(this.dir, `tus-s3-${randomBytes(8).toString('hex')}.part`);
      this.handle = await open(this.path, 'wx', 0o600);
    }
    // One writev of the chunks as they are: no copy into one buffer first.
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
export function* grouped(chunks: readonly Buffer[], size: number): Generator<Buffer[]> {
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
