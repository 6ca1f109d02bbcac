/**
 * Checkpoints start at least this far apart, the first this long after the first part landed (one PUT of the
 * journal each, ~15 ms on local RGW against ~150 ms per 8 MiB part, and ~5 ms of RGW's CPU): parts landing sooner
 * are saved by the next one, or by the end of the body.
 */
export const CHECKPOINT_INTERVAL_MS = 1000;

/**
 * When a PATCH saves its progress while its body streams: on request (a part landed), one save at a time, at most
 * one per interval, the first an interval after the first request; requests arriving while one waits or runs are
 * folded into it. So a body that ends within a second of its first part saves only at its end (a crash loses at most
 * a second of landed parts besides those in flight), which spares every upload of a few parts a PUT. Stopping wakes
 * a waiting save at once, and `stop` resolves when none is left.
 */
export class CheckpointSchedule {
  private chain: Promise<void> = Promise.resolve();
  private queued = false;
  private last = -Infinity;
  private wake: (() => void) | undefined;

  constructor(
    private readonly save: () => Promise<void>,
    private active: boolean,
    private readonly intervalMs = CHECKPOINT_INTERVAL_MS,
  ) {}

  get running(): boolean {
    return this.active;
  }

  /** Asks for a save (a part landed). */
  request(): void {
    if (!this.active || this.queued) return;
    this.queued = true;
    if (this.last === -Infinity) this.last = Date.now();
    this.chain = this.chain.then(async () => {
      await this.turn();
      this.queued = false;
      this.last = Date.now();
      return this.save();
    });
  }

  /** No more saves after those under way; resolves once they are done. */
  stop(): Promise<void> {
    this.active = false;
    this.wake?.();
    return this.chain;
  }

  private turn(): Promise<void> {
    const wait = this.last + this.intervalMs - Date.now();
    if (wait <= 0 || !this.active) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, wait);
      this.wake = done;
    });
  }
}
