/** Something an upload's requests pass through that a test can stop and start (a redis-server, the S3 fault proxy). */
export interface Freezable {
  freeze(): void;
  thaw(): void;
}

export interface Freeze {
  /** For tus-js-client's `onChunkComplete`. */
  readonly onChunkComplete: (chunkSize: number, bytesAccepted: number) => void;
  /** Whether the freeze happened. */
  readonly frozen: boolean;
  /** Settles once the target is thawed (at once when it never froze). */
  readonly thawed: Promise<void>;
}

/** Freezes `target` once the server accepted `afterBytes` of the upload, and thaws it `forMs` later. */
export function freezeMidway(target: Freezable, afterBytes: number, forMs = 4_000): Freeze {
  let frozen = false;
  let thawed = Promise.resolve();
  return {
    onChunkComplete: (_chunkSize, bytesAccepted) => {
      if (frozen || bytesAccepted < afterBytes) return;
      frozen = true;
      target.freeze();
      thawed = new Promise((resolve) => setTimeout(() => resolve(target.thaw()), forMs));
    },
    get frozen() {
      return frozen;
    },
    get thawed() {
      return thawed;
    },
  };
}
