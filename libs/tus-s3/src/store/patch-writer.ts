import { Readable } from 'node:stream';
import { LockInterruptedError, UploadLock } from '../locker/locker.interface';
import type { ExpectedChecksum } from '../protocol/checksum';
import { BodyChecksum, ChecksumMismatchError } from './body-checksum';
import type { ChunkRelease } from './chunk-release';
import type { EarlyHold, HeldBytes, HeldKey, HeldTransfer, WrittenBytes } from './held-bytes/held-bytes';
import { ObjectKeys } from './object-keys';
import { mayUploadShortPart } from './part-plan';
import { CheckpointSchedule } from './checkpoint-schedule';
import { BodyEnd, readUntil } from './read-until';
import { S3Objects } from './s3-objects';
import type { MemoryBudget } from './memory-budget';
import { Semaphore } from './semaphore';
import { Spool } from './spool';
import { StorageError } from './store-errors';
import { ONE_ATTEMPT, STREAM_RETRIES } from './stream-retries';
import type { WriteStop } from './tus-data-store';
import { heldSize, isStoredWhole, offsetOf, partsEnd, UploadedPart, UploadInfo } from './upload-info';

export interface PatchWriterConfig {
  objects: S3Objects;
  keys: ObjectKeys;
  minPartSize: number;
  maxMultipartParts: number;
  equalParts: boolean;
  concurrency: number;
  tempDir?: string;
  /** Memory shared by the spools of every PATCH of this instance. */
  memory?: MemoryBudget;
  /** The largest size an upload may reach; bounds part planning for deferred lengths. */
  uploadLimit: number;
  /**
   * Transfers that may follow their bytes as they arrive at once, for all PATCHes of this instance (see
   * `startEarly`): each holds one of the S3 client's connections for as long as its client takes to send. None
   * without it.
   */
  earlyTransfers?: Semaphore;
}

/**
 * Early transfers at once per instance, by default: well below the 50 connections per host that the AWS SDK's agent
 * allows by default, so that slow clients cannot keep the rest of the instance's S3 requests waiting for one.
 */
export const EARLY_TRANSFERS = 16;

/**
 * How long a part waits for memory when the budget is spent before it goes to disk instead. Parts in flight free
 * theirs within a few hundred milliseconds; what waits longer is likely held by slow bodies.
 */
const MEMORY_WAIT_MS = 2000;

/** The bytes of one part: held-back bytes first, then what this request spooled. */
interface PartSource {
  held: HeldKey[];
  spool: Spool | null;
  size: number;
}

/**
 * A transfer that started while its bytes were still arriving, following the spool of `source` (see `startEarly`):
 * it counts only if the body brings all the bytes it is for; otherwise it is stopped (see `stop`) and its bytes are
 * dealt with as if it had never started.
 */
interface EarlyTransfer {
  readonly source: PartSource;
  readonly cancel: AbortController;
  /** Settles once the transfer is over, whatever its outcome. */
  readonly over: Promise<unknown>;
}

/** A part's early upload. */
interface EarlyPart extends EarlyTransfer {
  readonly size: number;
  readonly upload: Promise<UploadedPart>;
}

/** Bytes that will be held, which the held-bytes strategy started to store early. */
interface EarlyHeld extends EarlyTransfer {
  readonly hold: EarlyHold;
}

/**
 * Turns one PATCH body into parts. Bytes are cut into parts of `info.partSize` as they arrive, the first starting
 * with the bytes held back so far, each spooled and uploaded while the next one fills (at most `concurrency` full
 * parts at once; waiting for a slot stops reading the body, which is the backpressure). When the body's length says
 * what a part will be, its upload starts with its first bytes and follows them as they arrive (see `startEarly`).
 * What is left at the end becomes the last part (upload complete), a short part (when the part budget allows), or is
 * held back for the next PATCH.
 * Held-back bytes are the upload's {@link HeldBytes} strategy's business: it reads them into parts and holds the
 * rest, and its plan may ask to hold a body back whole.
 */
export class PatchWriter {
  private readonly semaphore: Semaphore;
  private readonly uploads: Array<Promise<UploadedPart>> = [];
  private equalParts: boolean;
  private firstFailure: StorageError | undefined;
  /** Set when a part found the lock gone: nothing may be committed after that, not even the journal. */
  private lockLost: LockInterruptedError | undefined;
  /** Per part upload started (in order), the part once it is in S3. */
  private readonly landed: Array<UploadedPart | undefined> = [];
  /** The journal as last saved by this write: the journal before it until a checkpoint saved more. */
  private saved: UploadInfo;
  /** The part being filled, when its upload started early (see `startEarly`). */
  private early: EarlyPart | undefined;
  /** The bytes being received that will be held, when the strategy started storing them early (see `startEarly`). */
  private earlyHeld: EarlyHeld | undefined;
  /** Checkpoints happen only while a body streams into parts (not when parts are cut from bytes just held). */
  private checkpoints = new CheckpointSchedule(() => this.checkpoint(), false);

  /** Whether it cuts parts, or stores the upload whole once all of it is here (see isStoredWhole). */
  private readonly whole: boolean;
  /** Where parts are cut: at the part size, or never for an upload stored whole (its one "part" is all of it). */
  private readonly cutAt: number;
  /** The most bytes one part has: the part size, or all of an upload stored whole (which may be more). */
  private readonly partCapacity: number;
  private readonly checkpointsWanted: boolean;
  private readonly beforeStoringWhole: ((size: number) => Promise<void>) | undefined;

  /**
   * @param options.checkpoints save the journal as parts land, while the body still streams (see {@link journal});
   * off when the body's bytes may only be kept once all of it arrived. Default on.
   * @param options.beforeStoringWhole asked right before an upload stored whole gets its final object (the app's
   * `beforeFinish`); what it throws fails the write with nothing stored
   */
  constructor(
    private readonly config: PatchWriterConfig,
    private readonly held: HeldBytes,
    private readonly info: UploadInfo,
    private readonly lock: UploadLock,
    options: { checkpoints?: boolean; beforeStoringWhole?: (size: number) => Promise<void> } = {},
  ) {
    this.semaphore = new Semaphore(config.concurrency);
    this.equalParts = config.equalParts;
    this.saved = info;
    this.whole = isStoredWhole(info);
    this.cutAt = this.whole ? Infinity : info.partSize;
    this.partCapacity = this.whole ? (info.size ?? info.partSize) : info.partSize;
    this.checkpointsWanted = options.checkpoints ?? true;
    this.beforeStoringWhole = options.beforeStoringWhole;
  }

  /**
   * The journal as this write last saved it (checkpoints): what the final commit records the write against. Its
   * `pending` no longer names held bytes that checkpointed parts consumed.
   */
  get journal(): UploadInfo {
    return this.saved;
  }

  /** What the body must hash to (the checksum extension), when the client said. */
  private checksum: BodyChecksum | undefined;

  /**
   * @param expectedBytes the body's Content-Length, when known
   * @param checksum Upload-Checksum: the body's bytes count only if all of them arrived and match it
   * @param release frees each chunk of the body once its bytes are copied (when the body's chunks are ours alone)
   * @throws ChecksumMismatchError when the whole body arrived and does not match (nothing of it was kept)
   */
  async write(
    body: Readable,
    maxBytes: number,
    expectedBytes?: number,
    checksum?: ExpectedChecksum,
    release?: ChunkRelease,
  ): Promise<WrittenBytes> {
    this.checksum = checksum ? new BodyChecksum(checksum) : undefined;
    const plan = await this.held.planWrite(this.info, expectedBytes);
    this.equalParts ||= plan.equalParts;
    return plan.holdWhole
      ? this.holdWhole(body, maxBytes, expectedBytes, release)
      : this.stream(body, maxBytes, expectedBytes, release);
  }

  /**
   * With a checksum, before anything of the body is committed: a body that matched goes on (undefined); one that was
   * cut short cannot be verified, so none of it counts (the result to return); a mismatch throws. Parts this body
   * already uploaded are then not in the journal: the retry uploads the same part numbers again.
   */
  private async unverified(stop: WriteStop, spool: Spool | null): Promise<WrittenBytes | undefined> {
    if (!this.checksum) return undefined;
    if (this.lockLost) {
      await this.stopEarly();
      throw this.lockLost;
    }
    if (stop === 'end' && !this.firstFailure) {
      try {
        this.checksum.verify();
        return undefined;
      } catch (error) {
        await this.stopEarly();
        await Promise.allSettled(this.uploads);
        await spool?.dispose();
        throw error instanceof ChecksumMismatchError ? error : new StorageError('could not verify the checksum', error);
      }
    }
    await this.stopEarly();
    await Promise.allSettled(this.uploads);
    await spool?.dispose();
    return this.result([], [...this.info.pending], 0, stop, this.firstFailure);
  }

  private async stream(
    body: Readable,
    maxBytes: number,
    expectedBytes: number | undefined,
    release: ChunkRelease | undefined,
  ): Promise<WrittenBytes> {
    const { info } = this;
    const startOffset = offsetOf(info);
    let current: PartSource = { held: [...info.pending], spool: null, size: heldSize(info.pending) };
    let nextPartNumber = info.parts.length + 1;
    let received = 0;
    let end: BodyEnd = 'end';
    let stop: WriteStop | undefined;
    this.checkpoints = new CheckpointSchedule(() => this.checkpoint(), this.checkpointsWanted);

    try {
      // Held bytes can add up to more than a part (when background part uploads lag): cut those first.
      while (current.size >= this.cutAt) {
        const [part, rest] = this.held.split(current.held, info.partSize);
        await this.startPartUpload(nextPartNumber++, { held: part, spool: null, size: info.partSize });
        current = { held: rest, spool: null, size: current.size - info.partSize };
      }
      for await (const chunk of readUntil(body, this.lock.signal, (e) => (end = e))) {
        let data = chunk;
        if (received + data.length > maxBytes) {
          data = data.subarray(0, maxBytes - received);
          stop = 'too-large';
        }
        this.checksum?.update(data);
        let copied = true;
        while (data.length > 0 && !this.firstFailure && !this.lockLost) {
          if (!current.spool) {
            const bodyLeft = Math.min(maxBytes, expectedBytes ?? Infinity) - received;
            current.spool = await this.spoolFor(this.partCapacity - current.size, bodyLeft);
            this.startEarly(nextPartNumber, current, bodyLeft, startOffset + received);
          }
          const piece = data.subarray(0, this.cutAt - current.size);
          data = data.subarray(piece.length);
          copied = (await current.spool.write(piece)) && copied;
          current.size += piece.length;
          received += piece.length;
          if (current.size === this.cutAt) {
            await this.partFilled(nextPartNumber++, current);
            current = { held: [], spool: null, size: 0 };
          }
        }
        // Every byte of it is in a slab now (or cut off as too large): nothing refers to the chunk any more.
        if (copied && data.length === 0) release?.release(chunk);
        if (stop || this.firstFailure || this.lockLost) break;
      }
      stop ??= end;
      // The body is over and its end saves the journal: no checkpoint starts now (one under way goes on).
      const checkpointsStopped = this.checkpoints.stop();
      const refused = await this.unverified(stop, current.spool);
      if (refused) {
        await checkpointsStopped;
        return refused;
      }

      const settled = await Promise.allSettled(this.uploads);
      await checkpointsStopped;
      if (this.lockLost) {
        await this.stopEarly();
        throw this.lockLost;
      }
      const newParts = contiguousSuccesses(settled);
      if (this.firstFailure || newParts.length < settled.length) {
        // Bytes after a failed part are not stored contiguously: drop them; the client resends from the new offset.
        await this.stopEarly();
        await current.spool?.dispose();
        return this.result(newParts, newParts.length > 0 ? [] : [...info.pending], received, stop, this.firstFailure);
      }

      const offsetAfter = startOffset + received;
      const isLast = info.size !== null && offsetAfter === info.size;
      const partsUsed = info.parts.length + newParts.length;
      try {
        if (current.size > 0 && (isLast || this.mayCutShortPart(current.size, partsUsed, offsetAfter))) {
          await this.beforeWhole(current.size);
          newParts.push(await this.lastPart(nextPartNumber, current));
          return this.result(newParts, [], received, stop);
        }
        const early = this.takeEarlyHeld(current);
        await this.stopEarly();
        return this.result(newParts, await this.holdRest(current, offsetAfter, early), received, stop);
      } catch (error) {
        // The tail did not reach storage, but everything before it did: keep that, report the failure.
        if (error instanceof StorageError) return this.result(newParts, current.held, received, stop, error);
        throw error;
      }
    } catch (error) {
      await this.stopEarly();
      await current.spool?.dispose();
      await Promise.allSettled(this.uploads);
      await this.checkpoints.stop();
      throw error;
    }
  }

  /**
   * The plan says to hold the body back whole: only when it completes the upload are parts cut, from held bytes.
   * Copied into slabs like a part's bytes, each chunk freed once copied (see ChunkRelease): the strategy's cache keeps
   * the slabs themselves, which go back to the budget afterwards rather than become garbage.
   */
  private async holdWhole(
    body: Readable,
    maxBytes: number,
    expectedBytes: number | undefined,
    release: ChunkRelease | undefined,
  ): Promise<WrittenBytes> {
    const { info } = this;
    const startOffset = offsetOf(info);
    const spool = await Spool.create(this.config.tempDir, this.config.memory, {
      expectedBytes: Math.min(maxBytes, expectedBytes ?? 0),
    });
    let received = 0;
    let end: BodyEnd = 'end';
    let stop: WriteStop | undefined;
    try {
      for await (const chunk of readUntil(body, this.lock.signal, (e) => (end = e))) {
        let data = chunk;
        if (received + data.length > maxBytes) {
          data = data.subarray(0, maxBytes - received);
          stop = 'too-large';
        }
        this.checksum?.update(data);
        received += data.length;
        // Copied into a slab: nothing refers to the chunk any more (it is gone afterwards, length and all).
        if ((await spool.write(data)) && data === chunk) release?.release(chunk);
        if (stop) break;
      }
      stop ??= end;
      const refused = await this.unverified(stop, null);
      if (refused) return refused;
      let pending: HeldKey[];
      try {
        pending = await this.holdRest(
          { held: [...info.pending], spool, size: heldSize(info.pending) + spool.size },
          startOffset + received,
        );
      } catch (error) {
        if (error instanceof StorageError) return this.result([], [...info.pending], received, stop, error);
        throw error;
      }
      const complete = info.size !== null && startOffset + received === info.size;
      return complete ? await this.cutLastParts(pending, received, stop) : this.result([], pending, received, stop);
    } finally {
      await spool.dispose();
    }
  }

  /** The upload is complete and its tail is held: cut it into the remaining parts, the last one short. */
  private async cutLastParts(pending: HeldKey[], received: number, stop: WriteStop): Promise<WrittenBytes> {
    let nextPartNumber = this.info.parts.length + 1;
    await this.beforeWhole(heldSize(pending));
    for (let rest = pending; heldSize(rest) > 0;) {
      const size = Math.min(this.cutAt, heldSize(rest));
      const [part, after] = this.held.split(rest, size);
      await this.startPartUpload(nextPartNumber++, { held: part, spool: null, size });
      rest = after;
    }
    const newParts = contiguousSuccesses(await Promise.allSettled(this.uploads));
    if (this.lockLost) throw this.lockLost;
    if (newParts.length === this.uploads.length) {
      const written = this.result(newParts, [], received, stop);
      // Stored whole, it is finished without a commit: what this very write held is consumed too.
      return this.whole ? { ...written, consumed: pending } : written;
    }
    const [, rest] = this.held.split(pending, partsEnd({ parts: newParts }));
    return this.result(newParts, rest, received, stop, this.firstFailure);
  }

  /**
   * A spool for the next `room` bytes of a part, of which the body is to bring at most `bodyLeft`: the bytes it will
   * hold are reserved in memory first, waiting a while when the budget is spent (see MemoryBudget).
   */
  private spoolFor(room: number, bodyLeft: number): Promise<Spool> {
    return Spool.create(this.config.tempDir, this.config.memory, {
      expectedBytes: Math.min(room, bodyLeft),
      waitMs: MEMORY_WAIT_MS,
      signal: this.lock.signal,
    });
  }

  private mayCutShortPart(bytes: number, partsUsed: number, offsetAfter: number): boolean {
    if (this.whole) return false;
    return mayUploadShortPart({
      bytes,
      partsUsed,
      offsetAfter,
      uploadLimit: this.info.size ?? this.config.uploadLimit,
      partSize: this.info.partSize,
      minPartSize: this.config.minPartSize,
      maxMultipartParts: this.config.maxMultipartParts,
      equalParts: this.equalParts,
    });
  }

  private result(
    newParts: UploadedPart[],
    pending: HeldKey[],
    bytesReceived: number,
    stop: WriteStop,
    failure?: StorageError,
  ): WrittenBytes {
    const parts = [...this.info.parts, ...newParts];
    // Held bytes of the journal last saved that now lie within the parts (a checkpoint dealt with those before).
    const inParts = partsEnd({ parts });
    let position = partsEnd(this.saved);
    const consumed = this.saved.pending.filter((key) => (position += key.size) <= inParts);
    return { parts, pending, consumed, bytesReceived, stop, failure };
  }

  private async startPartUpload(partNumber: number, source: PartSource): Promise<void> {
    await this.semaphore.acquire();
    this.track(partNumber, this.uploadPart(partNumber, source));
  }

  /** Counts a part upload that holds a slot of the semaphore: its outcome decides what the write keeps. */
  private track(partNumber: number, part: Promise<UploadedPart>): void {
    const upload = part.finally(() => this.semaphore.release());
    const index = this.uploads.length;
    void upload.then(
      (landed) => this.landedPart(index, landed),
      () => undefined,
    );
    upload.catch((error: unknown) => {
      if (error instanceof LockInterruptedError) this.lockLost ??= error;
      else
        this.firstFailure ??=
          error instanceof StorageError ? error : new StorageError(`part ${partNumber} upload failed`, error);
    });
    this.uploads.push(upload);
  }

  /**
   * Starts uploading the part that `source` begins, before its bytes are here, when the body's length says what the
   * part will be: full, or the upload's last, or a short part that the end of this body would cut anyway. Its upload
   * then overlaps its receiving instead of following it: a PATCH that brings the end of an upload is answered about
   * when its last byte arrives, not one part upload later. Only for bytes that stay in memory (a spool that has them
   * reserved), and not for an upload stored whole whose `beforeFinish` must be asked first, or whose body must match a
   * checksum before its final object may exist.
   * @param bodyLeft the bytes the body is still to bring (its length less what arrived)
   * @param offset where the spool's first byte goes
   */
  private startEarly(partNumber: number, source: PartSource, bodyLeft: number, offset: number): void {
    if (!Number.isFinite(bodyLeft) || !source.spool) return;
    let size: number;
    if (source.size + bodyLeft >= this.cutAt) size = this.cutAt;
    else {
      size = source.size + bodyLeft;
      const isLast = this.info.size !== null && offset + bodyLeft === this.info.size;
      if (this.whole ? !isLast : !isLast && !this.mayCutShortPart(size, partNumber - 1, offset + bodyLeft)) {
        this.startEarlyHold(source, bodyLeft, offset);
        return;
      }
      if (this.whole && (this.beforeStoringWhole || this.checksum)) return;
    }
    if (!source.spool.keepsInMemory(size - source.size) || !this.config.earlyTransfers?.tryAcquire()) return;
    const cancel = new AbortController();
    const upload = this.sendPart(partNumber, source, size, cancel.signal);
    // Its outcome is looked at once the part is full, or not at all (stopped).
    const over = upload.catch(() => undefined).finally(() => this.config.earlyTransfers!.release());
    this.early = { source, size, cancel, upload, over };
  }

  /**
   * The body will be held once it is all here (it neither fills a part nor ends one): the strategy may store it while
   * it arrives (S3 chunk objects do), so that the PATCH is answered about when its last byte is in. Not with a
   * checksum: nothing of such a body may be stored before it matched.
   */
  private startEarlyHold(source: PartSource, bodyLeft: number, offset: number): void {
    if (this.checksum || !this.held.holdEarly || !source.spool?.keepsInMemory(bodyLeft)) return;
    const slots = this.config.earlyTransfers;
    if (!slots?.tryAcquire()) return;
    const cancel = new AbortController();
    const hold = this.held.holdEarly(this.info, source.spool, offset, bodyLeft, this.lock, cancel.signal);
    if (!hold) return slots.release();
    void hold.over.finally(() => slots.release());
    this.earlyHeld = { source, hold, cancel, over: hold.over };
  }

  /** The early upload of `source`'s part, if one runs: no longer the writer's to stop. */
  private takeEarly(source: PartSource): EarlyPart | undefined {
    const early = this.early;
    if (early?.source !== source) return undefined;
    this.early = undefined;
    return early;
  }

  /** The early hold of `source`'s bytes, if one runs: no longer the writer's to stop. */
  private takeEarlyHeld(source: PartSource): EarlyHeld | undefined {
    const early = this.earlyHeld;
    if (early?.source !== source) return undefined;
    this.earlyHeld = undefined;
    return early;
  }

  /** Stops whatever transfer still follows a spool of this write (see `stop`). */
  private async stopEarly(): Promise<void> {
    const running = [this.early, this.earlyHeld];
    this.early = undefined;
    this.earlyHeld = undefined;
    for (const transfer of running) if (transfer) await this.stop(transfer);
  }

  /**
   * Stops an early transfer whose bytes will not all come, or will not go where it sends them (the body ended short,
   * or the write failed), and waits for it to be over, so that nothing reads the spool's memory afterwards. No more
   * bytes come: the spool is closed, which also ends the transfer's body, should the abort not.
   */
  private async stop(transfer: EarlyTransfer): Promise<void> {
    await transfer.source.spool?.close();
    transfer.cancel.abort();
    await transfer.over;
  }

  /**
   * The part `source` is full: its early upload goes on, else its upload starts now. An early upload that fails (it
   * has one attempt) is sent again the ordinary way, from the spool, which has all its bytes by then (a slow client
   * may have kept the early one waiting longer than S3 does).
   */
  private async partFilled(partNumber: number, source: PartSource): Promise<void> {
    const early = this.takeEarly(source);
    if (!early) return this.startPartUpload(partNumber, source);
    await source.spool?.close();
    await this.semaphore.acquire();
    this.track(partNumber, this.afterEarly(early, partNumber));
  }

  /** The last part of this write, of all `source`'s bytes: its early upload if it has one for exactly those. */
  private async lastPart(partNumber: number, source: PartSource): Promise<UploadedPart> {
    const early = this.takeEarly(source);
    await this.stopEarly(); // an early hold of these bytes (the body seemed to end short of a part), if any
    if (!early || early.size !== source.size) {
      if (early) await this.stop(early);
      return this.uploadPart(partNumber, source);
    }
    await source.spool?.close();
    return this.afterEarly(early, partNumber);
  }

  private async afterEarly(early: EarlyPart, partNumber: number): Promise<UploadedPart> {
    try {
      return await early.upload.catch((error: unknown) => {
        if (this.lock.lost.aborted || error instanceof LockInterruptedError) throw error;
        return this.uploadPart(partNumber, early.source);
      });
    } finally {
      await early.source.spool?.dispose();
    }
  }

  /**
   * A part is in S3. When it extends the parts that landed in order, the journal is saved with them (a checkpoint),
   * so that a crash or a lost lock mid-body loses only the parts in flight.
   */
  private landedPart(index: number, part: UploadedPart): void {
    this.landed[index] = part;
    this.checkpoints.request();
  }

  private async checkpoint(): Promise<void> {
    const newParts: UploadedPart[] = [];
    for (const part of this.landed) {
      if (!part) break;
      newParts.push(part);
    }
    if (!this.checkpoints.running || this.firstFailure || this.lockLost) return;
    if (this.info.parts.length + newParts.length <= this.saved.parts.length) return;
    // The held bytes of the journal before this write that the new parts do not cover are still held.
    const covered = partsEnd({ parts: newParts });
    const pending = covered >= heldSize(this.info.pending) ? [] : this.held.split(this.info.pending, covered)[1];
    try {
      this.lock.assertHeld();
      this.saved = await this.held.commit(this.saved, this.result(newParts, pending, covered, 'end'), this.lock);
    } catch (error) {
      const reason: unknown = this.lock.lost.aborted ? this.lock.lost.reason : error;
      if (reason instanceof LockInterruptedError) this.lockLost ??= reason;
      // Otherwise only the checkpoint failed: the write goes on, and its end saves the journal again.
    }
  }

  /** Uploads a part whose bytes are all here, then frees its spool. */
  private async uploadPart(partNumber: number, source: PartSource): Promise<UploadedPart> {
    try {
      return await this.sendPart(partNumber, source, source.size);
    } finally {
      await source.spool?.dispose();
    }
  }

  /**
   * Sends part `partNumber` (or the object stored whole): `source`'s held bytes, then its spool.
   * @param following the spool is still filling (an early upload): its bytes are sent as they arrive, and this
   * signal cancels the upload
   */
  private async sendPart(
    partNumber: number,
    source: PartSource,
    size: number,
    following?: AbortSignal,
  ): Promise<UploadedPart> {
    let held: HeldTransfer | undefined;
    let sent = false;
    try {
      // Inside the try, as when the strategy was asked per attempt: whatever it throws fails this part.
      if (source.held.length > 0) held = this.held.read(this.info.id, source.held, this.lock.lost);
      if (!following) await source.spool?.close();
      this.lock.assertHeld();
      // Opened again for each attempt: the spool and the held bytes can be read more than once.
      const spooled = following ? size - heldSize(source.held) : undefined;
      const body = () => partBody(held, source.spool, spooled);
      const signal = following ? AbortSignal.any([this.lock.lost, following]) : this.lock.lost;
      // An early upload gets one attempt: should it fail, the part is sent the ordinary way once full (partFilled).
      const retries = following ? ONE_ATTEMPT : STREAM_RETRIES;
      const key = this.config.keys.final(this.info.id);
      const { objects } = this.config;
      const etag = this.whole
        ? await objects.putFinalObject(key, this.info.metadata, { size, body }, signal, retries)
        : await objects.uploadPart(key, this.info.multipartUploadId!, { partNumber, size, body }, signal, retries);
      sent = true;
      // A part's ETag completes the multipart upload; an object stored whole needs none.
      if (!etag && !this.whole) throw new StorageError(`S3 returned no ETag for part ${partNumber}`);
      return { partNumber, size, etag: etag ?? '' };
    } catch (error) {
      if (this.lock.lost.aborted) throw this.lock.lost.reason;
      if (error instanceof LockInterruptedError || error instanceof StorageError) throw error;
      throw new StorageError(`part ${partNumber} upload failed`, error);
    } finally {
      held?.end(sent);
    }
  }

  /**
   * An upload stored whole is about to get its final object (all `size` bytes of it): the app's `beforeFinish` has
   * its say first. What it throws goes to the caller as it is, with nothing stored.
   */
  private async beforeWhole(size: number): Promise<void> {
    if (!this.whole) return;
    if (size !== this.info.size) throw new Error(`upload ${this.info.id} is stored whole, not ${size} bytes of it`);
    await this.beforeStoringWhole?.(size);
  }

  /**
   * Hands the bytes that did not make a part to the held-bytes strategy, until the next PATCH. Returns what is held
   * after this write.
   */
  private async holdRest(current: PartSource, offsetAfter: number, early?: EarlyHeld): Promise<HeldKey[]> {
    const { spool } = current;
    if (early && early.hold.size !== spool?.size) {
      await this.stop(early); // started for bytes the body did not all bring
      early = undefined;
    }
    if (!spool || spool.size === 0) {
      await spool?.dispose();
      return [...current.held];
    }
    try {
      await spool.close();
      this.lock.assertHeld();
      const handedOver = early;
      early = undefined; // the strategy's from here on
      return await this.held.hold(
        this.info,
        current.held,
        spool,
        offsetAfter - spool.size,
        this.lock,
        handedOver?.hold,
      );
    } catch (error) {
      if (early) await this.stop(early);
      if (this.lock.lost.aborted) throw this.lock.lost.reason;
      if (error instanceof LockInterruptedError || error instanceof StorageError) throw error;
      throw new StorageError('could not store the received bytes', error);
    } finally {
      await spool.dispose();
    }
  }
}

/**
 * A part's bytes for one attempt: the held bytes it starts with, then what the spool has of the body, or, when
 * `following`, that many of the spool's bytes as they arrive (see Spool.follow).
 */
function partBody(held: HeldTransfer | undefined, spooled: Spool | null, following?: number): Readable {
  const spool = () => (following === undefined ? spooled!.read() : spooled!.follow(following));
  if (!held) return spooled ? spool() : Readable.from([], { objectMode: false });
  if (!spooled) return held.open();
  const heldBytes = held.open();
  async function* bytes(): AsyncGenerator<Buffer> {
    yield* heldBytes;
    yield* spool();
  }
  return Readable.from(bytes(), { objectMode: false });
}

function contiguousSuccesses(settled: PromiseSettledResult<UploadedPart>[]): UploadedPart[] {
  const parts: UploadedPart[] = [];
  for (const outcome of settled) {
    if (outcome.status !== 'fulfilled') break;
    parts.push(outcome.value);
  }
  return parts;
}
