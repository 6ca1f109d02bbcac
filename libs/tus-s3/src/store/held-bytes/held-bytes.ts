import type { Readable } from 'node:stream';
import type { UploadLock } from '../../locker/locker.interface';
import type { Spool } from '../spool';
import type { StorageError } from '../store-errors';
import type { WriteStop } from '../tus-data-store';
import type { StoredJournal, UploadedPart, UploadInfo } from '../upload-info';

/** Where an upload keeps the bytes it received that are not in a part yet (`holdBackIn`, fixed at creation). */
export type HeldIn = 's3' | 'redis';

/**
 * Held-back bytes, as a journal lists them after the parts.
 * - `s3`: a chunk object `<prefix><id>.chunk.<offset>.<nonce>` of `size` bytes.
 * - `redis`: `size` bytes of the upload's run in Redis that starts at offset `base`, from byte `skip` of the run on
 *   (the run's first `skip` bytes are in parts already).
 */
export type HeldKey =
  | { readonly in: 's3'; readonly key: string; readonly size: number }
  | { readonly in: 'redis'; readonly base: number; readonly size: number; readonly skip: number };

/**
 * Held bytes on their way into one part: every attempt of the part upload opens them anew, and the uploader says when
 * it is over, so that a strategy may free memory it kept them in once no socket can still be sending it.
 */
export interface HeldTransfer {
  /** The bytes, in order; the stream fails if they cannot all be read. */
  open(): Readable;
  /** The part upload is over (every attempt). `sent`: S3 acknowledged it. */
  end(sent: boolean): void;
}

/**
 * Bytes a strategy started to store before they were all here (see HeldBytes.holdEarly); `hold` finishes the job.
 * The PatchWriter only knows how many bytes it is for, and when it is over.
 */
export interface EarlyHold {
  readonly size: number;
  /** Settles once the early transfer is over, whatever its outcome. */
  readonly over: Promise<void>;
}

/** How a write goes, decided before its body is read. */
export interface WritePlan {
  /** Hold the whole body back (no part is cut from it, unless it completes the upload). */
  readonly holdWhole: boolean;
  /** Cut every part at the upload's part size, whatever `equalParts` says: no short part. */
  readonly equalParts: boolean;
}

/** What a PatchWriter stored: the journal's parts and held bytes after the write, and how the write went. */
export interface WrittenBytes {
  /** All the upload's parts after this write. */
  readonly parts: UploadedPart[];
  /** The bytes held back after them. */
  readonly pending: HeldKey[];
  /** Held bytes of the journal before the write that are now in parts. */
  readonly consumed: HeldKey[];
  readonly bytesReceived: number;
  readonly stop: WriteStop;
  /** Set when storage failed: the journal above holds only what is safely stored. */
  readonly failure?: StorageError;
}

/**
 * Where an upload's held-back bytes live, and the journal policy that goes with it. One implementation per
 * {@link HeldIn}: chunk objects in S3 ({@link S3HeldBytes}) or a run in Redis ({@link RedisHeldBytes}); the upload's
 * journal names its own (`heldIn`), and the store and the PatchWriter only ever go through this interface.
 *
 * Methods that change something expect the caller to hold the upload's lock.
 */
export interface HeldBytes {
  /** What journals created with this strategy record as `heldIn`. */
  readonly kind: HeldIn;
  /**
   * Whether full parts go to S3 in the background while the client is still sending (Redis mode's PartFlusher), so
   * that uploads created with this strategy are better off with a short last part (see `withShortLastPart`).
   */
  readonly partsInBackground: boolean;

  /** This instance's copy of an upload's journal, when it can be trusted without reading S3 (else undefined). */
  cached(uploadId: string): Promise<UploadInfo | undefined>;
  /**
   * The journal as the store works with it, from what `.info` holds: its held bytes listed in `pending`.
   * @param lock the upload's lock when the caller holds it (only then may the journal be cached)
   */
  load(stored: StoredJournal, lock?: UploadLock): Promise<UploadInfo>;
  /** Writes the journal to `.info`. */
  save(info: UploadInfo, lock?: UploadLock): Promise<void>;

  /**
   * Before a write of a body of `expectedBytes` (its Content-Length, when known): lets this instance's background
   * work on the upload that the write would repeat finish first (a part being uploaded from the held bytes the
   * write is about to cut parts from). Returns the journal as it is then: the same offset, possibly more of it in
   * parts.
   */
  settle(info: UploadInfo, expectedBytes: number | undefined, lock: UploadLock): Promise<UploadInfo>;
  /** How a write of a body of `expectedBytes` (its Content-Length, when known) goes. */
  planWrite(info: UploadInfo, expectedBytes: number | undefined): Promise<WritePlan>;
  /**
   * The first `bytes` of `held` (to cut a part from held bytes alone), and the rest. S3 chunk objects are only ever
   * cut whole: together they hold less than a part, so a part never ends inside one.
   */
  split(held: readonly HeldKey[], bytes: number): [HeldKey[], HeldKey[]];
  /** The bytes of `held`, for one part upload (see HeldTransfer). */
  read(uploadId: string, held: readonly HeldKey[], signal: AbortSignal): HeldTransfer;
  /**
   * Holds `spool`'s bytes, which start at offset `at`, after `held` (the upload's held bytes before them, possibly
   * none). Returns the held bytes after that. They may still be on their way to storage (the spool may go once this
   * returns): the `commit` of this write waits for them, and fails if they did not get there.
   */
  hold(
    info: UploadInfo,
    held: readonly HeldKey[],
    spool: Spool,
    at: number,
    lock: UploadLock,
    early?: EarlyHold,
  ): Promise<HeldKey[]>;
  /**
   * Optional: starts storing the `size` bytes `spool` is about to receive (from offset `at`), while they arrive, for
   * a body that will be held once it is all here. If it brings exactly those bytes, `hold` is given this back and
   * finishes it; if not, the writer aborts `cancel` and waits for `over`. Undefined when the strategy does not.
   */
  holdEarly?(
    info: UploadInfo,
    spool: Spool,
    at: number,
    size: number,
    lock: UploadLock,
    cancel: AbortSignal,
  ): EarlyHold | undefined;
  /**
   * Records what a write stored: saves the journal (as this strategy's policy says), cleans up, returns it. Also
   * called while a body streams (PatchWriter checkpoints), with the parts landed so far and the held bytes after
   * them; `before` is then the journal the previous call returned.
   */
  commit(before: UploadInfo, written: WrittenBytes, lock: UploadLock): Promise<UploadInfo>;

  /**
   * The upload is finished (its journal saved): nothing of it needs holding any more.
   * @param consumed held bytes the journal listed before that are in the final object now and that no `commit` has
   * cleaned up (an upload stored whole is finished without one)
   */
  finished(info: UploadInfo, consumed?: readonly HeldKey[]): Promise<void>;
  /** Removes every held byte of the upload and whatever else this strategy keeps of it (termination). */
  drop(info: UploadInfo): Promise<void>;
}
