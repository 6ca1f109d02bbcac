/** The unit of memory spools take: 1 MiB slabs, each allocated once and reused. */
export const SLAB_BYTES = 1024 * 1024;

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
 */
export class MemoryBudget {
  private readonly free: Buffer[] = [];
  /** Slabs that belong to the pool: free, or lent to a spool. */
  private allocated = 0;
  private lent = 0;
  /** Bytes spools keep as received, counted against the same limit (see `tryReserve`). */
  private reserved = 0;

  constructor(readonly limit: number) {}

  /** Bytes lent to spools now, as slabs or reserved. */
  get inUse(): number {
    return this.lent * SLAB_BYTES + this.reserved;
  }

  /** Bytes of slabs allocated by the pool (lent or free). */
  get allocatedBytes(): number {
    return this.allocated * SLAB_BYTES;
  }

  /** A slab to fill, or undefined when the budget is spent. Its contents are whatever was there before. */
  take(): Buffer | undefined {
    const slab = this.free.pop();
    if (slab) {
      this.lent++;
      return slab;
    }
    if (!this.room(SLAB_BYTES)) return undefined;
    this.allocated++;
    this.lent++;
    return Buffer.allocUnsafeSlow(SLAB_BYTES);
  }

  /** A slab whose bytes are no longer needed: reused by the next `take`. */
  giveBack(slab: Buffer): void {
    this.lent--;
    this.free.push(slab);
  }

  /**
   * Counts `bytes` that a spool keeps as the socket delivered them (bytes it will give away to a cache, where a copy
   * into slabs would be wasted); false when they do not fit.
   */
  tryReserve(bytes: number): boolean {
    if (!this.room(bytes)) return false;
    this.reserved += bytes;
    return true;
  }

  unreserve(bytes: number): void {
    this.reserved -= bytes;
  }

  /** Whether `bytes` more fit, dropping free slabs to make room if that is what it takes. */
  private room(bytes: number): boolean {
    const fits = () => this.allocated * SLAB_BYTES + this.reserved + bytes <= this.limit;
    while (!fits() && this.free.length > 0) {
      this.free.pop();
      this.allocated--;
    }
    return fits();
  }
}
