import { isArrayBuffer } from 'node:util/types';
import { ChunkRelease } from './chunk-release';

/** The unit of memory spools take: 1 MiB slabs, each allocated once and reused. */
export const SLAB_BYTES = 1024 * 1024;

/** A reservation waiting its turn (see `reserveWithin`). */
interface Waiter {
  readonly slabs: number;
  readonly grant: (granted: boolean) => void;
}

/**
 * Memory that this instance may keep received bytes in on their way to S3, shared by every PATCH: slabs of 1 MiB,
 * allocated once (up to `limit`), lent to spools and given back to be reused.
 *
 * Why copy received bytes into slabs rather than keep the buffers the socket delivered? Node allocates a fresh
 * buffer for every socket read. Kept until its part is in S3 (hundreds of milliseconds), each outlives two young
 * collections, moves to the old generation and can only be freed by a full mark-compact: at a few hundred MB/s that
 * was a mark-compact every 16 MiB, and up to 64 MiB of dead buffers in RSS on top of the live ones. Copied at once,
 * they die young and cheaply (the copy costs ~0.1 ms per MiB); the slabs live as long as the process and are never
 * garbage. Memory is then exactly the slabs in existence, at most `limit`.
 *
 * Spools reserve slabs before they take them. A spool that will hold a whole part reserves the part up front and,
 * when the budget is spent, waits its turn (first come, first served) for a while: meanwhile its request is not read,
 * which is backpressure on the client, and the parts in flight give their slabs back as they land. Only a reservation
 * that waited too long goes to disk. Waiting for whole parts cannot deadlock (a reservation never waits while holding
 * part of its part), and it keeps concurrent uploads off the disk, whose writes and reads cost more CPU than the
 * bytes' own trip to S3.
 */
export class MemoryBudget {
  private readonly free: Buffer[] = [];
  /** Slabs that belong to the pool: free, or lent to a spool. */
  private allocated = 0;
  /** Slabs reserved by spools (taken or not yet). */
  private reservedSlabs = 0;
  private readonly waiting: Waiter[] = [];

  constructor(readonly limit: number) {}

  /** Bytes reserved by spools now. */
  get inUse(): number {
    return this.reservedSlabs * SLAB_BYTES;
  }

  /** Bytes of slabs allocated by the pool (lent or free). */
  get allocatedBytes(): number {
    return this.allocated * SLAB_BYTES;
  }

  /** Reservations waiting their turn. */
  get waiters(): number {
    return this.waiting.length;
  }

  /** The number of slabs that hold `bytes`. */
  static slabsFor(bytes: number): number {
    return Math.ceil(bytes / SLAB_BYTES);
  }

  /** Reserves `slabs` slabs now, or returns false (no room, or others are waiting their turn). */
  reserveSlabs(slabs: number): boolean {
    if (this.waiting.length > 0 || !this.fits(slabs * SLAB_BYTES)) return false;
    this.reservedSlabs += slabs;
    return true;
  }

  /**
   * Reserves `slabs` slabs, waiting in turn up to `waitMs` for room; false when the time is up, `signal` aborts, or
   * they could never fit.
   */
  reserveSlabsWithin(slabs: number, waitMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.reserveSlabs(slabs)) return Promise.resolve(true);
    if (slabs * SLAB_BYTES > this.limit || waitMs <= 0 || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const settle = (granted: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', giveUp);
        resolve(granted);
      };
      const waiter: Waiter = { slabs, grant: settle };
      const giveUp = () => {
        const index = this.waiting.indexOf(waiter);
        if (index < 0) return;
        this.waiting.splice(index, 1);
        settle(false);
        // The head gave up: the next in line may fit where it did not.
        this.grantWaiters();
      };
      const timer = setTimeout(giveUp, waitMs);
      signal?.addEventListener('abort', giveUp, { once: true });
      this.waiting.push(waiter);
    });
  }

  /** Ends a reservation of `slabs` (whose slabs were given back): the room goes to those waiting, in turn. */
  releaseSlabs(slabs: number): void {
    this.reservedSlabs -= slabs;
    this.grantWaiters();
  }

  /** A slab to fill, under a reservation of the caller's. Its contents are whatever was there before. */
  take(): Buffer {
    const slab = this.free.pop();
    if (slab) return slab;
    this.allocated++;
    return Buffer.allocUnsafeSlow(SLAB_BYTES);
  }

  /** A slab whose bytes are no longer needed: reused by the next `take`. */
  giveBack(slab: Buffer): void {
    this.free.push(slab);
  }

  /**
   * `count` lent slabs leave the pool with their bytes (for a cache of what was stored, instead of a copy: a fresh
   * megabyte costs this machine more in page faults than the copy itself). They no longer count as the pool's; each
   * comes back through `adopt`, or goes to the collector.
   */
  disown(count: number): void {
    this.allocated -= count;
  }

  /**
   * Takes back a slab that `disown` let go, given as any view of it, once nothing reads its bytes any more: reused by
   * the next `take` while the pool has room for it, else freed at once. A function, so that holders can keep it.
   */
  readonly adopt = (view: Buffer): void => {
    const memory = view.buffer;
    if (!isArrayBuffer(memory) || memory.byteLength !== SLAB_BYTES) return;
    const slab = Buffer.from(memory);
    if ((this.allocated + 1) * SLAB_BYTES > this.limit) return ChunkRelease.free(slab);
    this.allocated++;
    this.free.push(slab);
  };

  private fits(bytes: number): boolean {
    return this.inUse + bytes <= this.limit;
  }

  private grantWaiters(): void {
    while (this.waiting.length > 0 && this.fits(this.waiting[0].slabs * SLAB_BYTES)) {
      const next = this.waiting.shift()!;
      this.reservedSlabs += next.slabs;
      next.grant(true);
    }
  }
}
