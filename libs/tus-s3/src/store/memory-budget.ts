/**
 * Bytes of received data that this instance may keep in memory on their way to S3, shared by every PATCH: a spool
 * takes from it as it fills and gives it back once its part is stored. What does not fit goes to disk, so memory is
 * bounded by the budget whatever the number of concurrent uploads, and disk is only touched under load.
 */
export class MemoryBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  get inUse(): number {
    return this.used;
  }

  /** Takes `bytes` if they fit; false (and nothing taken) otherwise. */
  tryTake(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }

  giveBack(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }
}
