import { Readable } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import { BeforeApplicationShutdown, Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { UploadLock } from '../locker/locker.interface';
import { isValidUploadId } from '../protocol/upload-id';
import {
  Clock,
  IdGenerator,
  TUS_CLOCK,
  TUS_HELD_BYTES,
  TUS_ID_GENERATOR,
  TUS_S3_CLIENT,
  TUS_S3_OPTIONS,
} from '../tus-s3.constants';
import type { ResolvedTusS3Options } from '../tus-s3.options';
import { ChunkRelease } from './chunk-release';
import { Concatenation } from './concatenation';
import { copyFinishedObject, DEFAULT_FINISHED_COPY, FinishedCopyPlan } from './finished-copy';
import type { HeldBytes, HeldKey } from './held-bytes/held-bytes';
import { S3HeldBytes } from './held-bytes/s3-held-bytes';
import { InfoObjects } from './info-objects';
import { MemoryBudget } from './memory-budget';
import { Journals } from './journals';
import { ObjectKeys } from './object-keys';
import { multipartEtag } from './multipart-etag';
import { choosePartSize, withShortLastPart } from './part-plan';
import { EARLY_TRANSFERS, PatchWriter, PatchWriterConfig } from './patch-writer';
import { Semaphore } from './semaphore';
import { S3Objects } from './s3-objects';
import { isS3NotFound, StorageError, UploadExistsError, UploadNotFoundError } from './store-errors';
import {
  CreationLock,
  AnnouncementCapable,
  BeforeFinish,
  ByteRange,
  ConcatenationCapable,
  DueAnnouncement,
  FinishedCopyCapable,
  isFinished,
  NewUpload,
  ObjectLocation,
  publicUpload,
  TusDataStore,
  Upload,
  UploadContent,
  WriteLimits,
  WriteOutcome,
  WriteStop,
} from './tus-data-store';
import {
  AnnounceRecord,
  completesUpload,
  isSmallEnoughToStoreWhole,
  isStoredWhole,
  offsetOf,
  partsEnd,
  UploadInfo,
} from './upload-info';

/** A write as the journal sees it: the journal after it, and how it ended. */
interface JournalWrite {
  info: UploadInfo;
  stop: WriteStop;
  /** Present when the write stopped because storage failed; `info` then holds what is safely stored. */
  failure?: StorageError;
}

/**
 * The tus data store on S3. Per upload: `<prefix><id>.info` (the journal, see {@link UploadInfo}), a multipart
 * upload for `<prefix><id>` that PATCH bodies become parts of, and the bytes received but not in a part yet, held
 * back by the upload's {@link HeldBytes} strategy (chunk objects in S3, or with `holdBackIn: 'redis'` a run in
 * Redis), so any instance can continue the upload. Finishing completes the multipart upload; the info object stays.
 * It knows nothing of HTTP; callers hold the upload's lock.
 */
@Injectable()
export class S3Store
  implements
    TusDataStore,
    ConcatenationCapable,
    FinishedCopyCapable,
    AnnouncementCapable,
    OnModuleInit,
    BeforeApplicationShutdown
{
  private readonly objects: S3Objects;
  private readonly heldInS3: S3HeldBytes;
  private readonly keys: ObjectKeys;
  private readonly journals: Journals;
  private readonly concatenation: Concatenation;
  private readonly writerConfig: PatchWriterConfig;
  private readonly copyPlan: FinishedCopyPlan;
  /** The journal behind each Upload this store handed out: callers see the upload, never its journal. */
  private readonly journalOfUpload = new WeakMap<Upload, UploadInfo>();

  /** @param heldInRedis the strategy for uploads held in Redis, when this instance has one (`holdBackIn: 'redis'`) */
  constructor(
    @Inject(TUS_S3_CLIENT) client: S3Client,
    @Inject(TUS_S3_OPTIONS) private readonly options: ResolvedTusS3Options,
    @Inject(TUS_CLOCK) private readonly clock: Clock,
    @Inject(TUS_ID_GENERATOR) private readonly newId: IdGenerator,
    @Inject(TUS_HELD_BYTES) heldInRedis: HeldBytes | null,
  ) {
    this.objects = new S3Objects(client, options.bucket, options.tagIncomplete);
    this.keys = new ObjectKeys(options.objectPrefix);
    const infos = new InfoObjects(this.objects, this.keys);
    this.heldInS3 = new S3HeldBytes(this.objects, this.keys, infos);
    this.journals = heldInRedis
      ? new Journals(infos, heldInRedis, [this.heldInS3])
      : new Journals(infos, this.heldInS3);
    this.concatenation = new Concatenation(this.objects, this.keys, options);
    const { multipartAbove, partSize } = options.copyOnFinish ?? {};
    this.copyPlan = {
      ...DEFAULT_FINISHED_COPY,
      ...(multipartAbove !== undefined ? { multipartAbove } : {}),
      ...(partSize !== undefined ? { partSize } : {}),
    };
    this.writerConfig = {
      objects: this.objects,
      keys: this.keys,
      minPartSize: options.minPartSize,
      maxMultipartParts: options.maxMultipartParts,
      equalParts: options.equalParts,
      concurrency: options.partUploadConcurrency,
      tempDir: options.tempDir,
      memory: new MemoryBudget(options.memoryBudget),
      uploadLimit: options.maxSize,
      earlyTransfers: new Semaphore(EARLY_TRANSFERS),
    };
  }

  /** So that the first request's chunks are freed as they are copied, like every later one's (see ChunkRelease). */
  async onModuleInit(): Promise<void> {
    await ChunkRelease.ready();
  }

  /** Lets the deletions of held-back chunks now in parts finish while the S3 client is still open. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.heldInS3.idle();
  }

  async create(upload: NewUpload, lockFor?: CreationLock): Promise<Upload> {
    const id = upload.id ?? this.newId();
    if (!isValidUploadId(id)) throw new Error(`not a valid upload id: ${JSON.stringify(id)}`);
    if (upload.id !== undefined && (await this.objects.exists(this.keys.info(id)))) throw new UploadExistsError(id);
    const planned = choosePartSize(this.options, upload.size, this.options.maxSize);
    const partSize =
      upload.size !== null && this.journals.forNewUploads.partsInBackground
        ? withShortLastPart(planned, upload.size, this.options)
        : planned;
    const empty = upload.size === 0;
    const createdAt = this.clock.now();
    // Nothing will ever be PATCHed to an empty upload: S3 cannot complete a multipart upload without parts, so it is
    // written whole now. A small one is stored whole when complete (isStoredWhole): no multipart upload.
    const whole = isSmallEnoughToStoreWhole(upload.size, this.options.storeWholeUpTo, upload.concat !== undefined);
    const multipart = !empty && !whole;
    const [multipartUploadId, lock] = await Promise.all([
      multipart ? this.objects.createMultipartUpload(this.keys.final(id), upload.metadata) : null,
      lockFor?.(id) ?? null,
    ]);
    const info: UploadInfo = {
      id,
      size: upload.size,
      metadataHeader: upload.metadataHeader,
      metadata: upload.metadata,
      createdAt: createdAt.toISOString(),
      multipartUploadId,
      partSize,
      parts: [],
      heldIn: this.journals.forNewUploads.kind,
      pending: [],
      finishedAt: null,
      ...(upload.concat ? { concat: upload.concat } : {}),
      ...(upload.sizeLimit !== undefined ? { sizeLimit: upload.sizeLimit } : {}),
      ...(this.options.expireAfterMs !== null && !empty
        ? { expiresAt: new Date(createdAt.getTime() + this.options.expireAfterMs).toISOString() }
        : {}),
    };
    if (!empty) {
      // Under the creation's lock, the journal is remembered for the upload's first request (see InfoObjects).
      await this.journals.save(info, lock ?? undefined);
      return this.viewOf(info);
    }
    await this.objects.putEmptyObject(this.keys.final(id), upload.metadata);
    const finishedAt = this.clock.now().toISOString();
    const finished: UploadInfo = { ...info, finishedAt, announce: this.announceAtFinish(id, finishedAt) };
    await this.journals.save(finished);
    return this.viewOf(finished);
  }

  async get(id: string, lock?: UploadLock): Promise<Upload> {
    return this.viewOf(await this.journals.load(id, lock));
  }

  async write(upload: Upload, body: Readable, lock: UploadLock, limits: WriteLimits): Promise<WriteOutcome> {
    return this.outcomeOf(await this.writeJournal(this.journalOf(upload), body, lock, limits));
  }

  async declareLength(upload: Upload, size: number, lock: UploadLock, beforeFinish?: BeforeFinish): Promise<Upload> {
    const updated: UploadInfo = { ...this.journalOf(upload), size };
    if (offsetOf(updated) === size && updated.pending.length > 0) {
      // Complete already, but its tail is held back: an empty write folds it into the last part.
      const outcome = await this.writeJournal(updated, Readable.from([]), lock, { maxBytes: 0, beforeFinish });
      if (outcome.failure) throw outcome.failure;
      return this.viewOf(outcome.info);
    }
    lock.assertHeld();
    await this.journals.save(updated);
    return this.viewOf(offsetOf(updated) === size ? await this.finish(updated, lock, beforeFinish) : updated);
  }

  /** Removes every trace: multipart upload, held-back bytes, the final object when finished, then the journal. */
  async terminate(upload: Upload, lock: UploadLock): Promise<void> {
    const info = this.journalOf(upload);
    lock.assertHeld();
    if (info.multipartUploadId)
      await this.objects.abortMultipartUpload(this.keys.final(info.id), info.multipartUploadId);
    await this.journals.heldBytesOf(info).drop(info);
    // Stored whole, the final object may exist before the upload counts as finished (a crash, or a failure, after
    // its PutObject and before the finished journal).
    if (info.finishedAt || isStoredWhole(info)) await this.objects.delete(this.keys.final(info.id));
    await this.journals.delete(info);
  }

  async read(upload: Upload, range?: ByteRange): Promise<UploadContent> {
    const info = this.journalOf(upload);
    return this.objects.read(this.keys.final(info.id), range, info.size ?? 0).catch((error) => {
      if (error instanceof StorageError && isS3NotFound(error.cause)) throw new UploadNotFoundError(info.id);
      throw error;
    });
  }

  /**
   * Assembles a final upload from finished partial uploads (the caller holds all their locks): by UploadPartCopy
   * when each partial can be a part, else by streaming their bytes through the ordinary write path.
   */
  async concatenate(
    final: Upload,
    partials: readonly Upload[],
    lock: UploadLock,
    beforeFinish?: BeforeFinish,
  ): Promise<WriteOutcome> {
    const info = this.journalOf(final);
    const sources = partials.map((partial) => this.journalOf(partial));
    if (!this.concatenation.canCopy(info, sources)) {
      const body = this.concatenation.body(sources);
      return this.outcomeOf(await this.writeJournal(info, body, lock, { maxBytes: info.size ?? 0, beforeFinish }));
    }
    const copied: UploadInfo = { ...info, parts: await this.concatenation.copyParts(info, sources, lock) };
    lock.assertHeld();
    await this.journals.save(copied);
    return this.outcomeOf({ info: await this.finish(copied, lock, beforeFinish), stop: 'end' });
  }

  /**
   * Server-side copy of a finished upload to where its journal says (else `copyOnFinish`): one CopyObject up to
   * 5 GiB, a multipart copy of byte ranges above.
   */
  async copyFinished(upload: Upload): Promise<ObjectLocation | undefined> {
    const info = this.journalOf(upload);
    const recorded = info.announce?.copy;
    const target = this.options.copyOnFinish;
    const destination = recorded
      ? { bucket: recorded.bucket, key: recorded.key }
      : target && { bucket: target.bucket, key: `${target.prefix}${info.id}` };
    if (!destination) return undefined;
    await copyFinishedObject(this.objects, this.keys.final(info.id), info.size ?? 0, destination, this.copyPlan);
    return destination;
  }

  dueAnnouncement(upload: Upload): DueAnnouncement | undefined {
    const announce = this.journalOf(upload).announce;
    if (!announce?.due || !upload.finishedAt) return undefined;
    const { copy } = announce;
    return {
      attempt: announce.attempt,
      claimedAt: announce.claimedAt,
      ...(copy ? { copy: { bucket: copy.bucket, key: copy.key } } : {}),
      copied: copy?.done === true,
    };
  }

  async claimAnnouncement(upload: Upload, lock: UploadLock): Promise<Upload> {
    return this.updateAnnouncement(upload, lock, (a) => ({
      ...a,
      attempt: a.attempt + 1,
      claimedAt: this.clock.now().toISOString(),
    }));
  }

  async renewAnnouncementClaim(upload: Upload, lock: UploadLock): Promise<Upload> {
    return this.updateAnnouncement(upload, lock, (a) => ({ ...a, claimedAt: this.clock.now().toISOString() }));
  }

  async markCopied(upload: Upload, lock: UploadLock): Promise<Upload> {
    return this.updateAnnouncement(upload, lock, (a) => (a.copy ? { ...a, copy: { ...a.copy, done: true } } : a));
  }

  async markAnnounced(upload: Upload, lock: UploadLock): Promise<Upload> {
    return this.updateAnnouncement(upload, lock, (a) => ({ ...a, due: false }));
  }

  /**
   * Appends a body at the upload's current offset (the caller checked it), at most `maxBytes`: the PatchWriter cuts
   * parts and hands the rest to the upload's held-bytes strategy, which then records the write in the journal (also
   * when the body stopped early). Finishes the upload when its last byte arrived.
   */
  private async writeJournal(
    info: UploadInfo,
    body: Readable,
    lock: UploadLock,
    limits: WriteLimits,
  ): Promise<JournalWrite> {
    const held = this.journals.heldBytesOf(info);
    const settled = await this.partsUnlessCompleting(await held.settle(info, limits.expectedBytes, lock), limits, lock);
    // A body with a checksum counts only once verified at its end: no checkpoints of its parts before that.
    const writer = new PatchWriter(this.writerConfig, held, settled, lock, {
      checkpoints: limits.checksum === undefined,
      // An upload stored whole is asked right before its final object is written, with the view finishing gives.
      beforeStoringWhole: limits.beforeFinish
        ? (size) =>
            limits.beforeFinish!(this.viewOf({ ...settled, parts: [{ partNumber: 1, size, etag: '' }], pending: [] }))
        : undefined,
    });
    const release = ChunkRelease.of(body, limits.releaseChunks);
    const written = await writer.write(body, limits.maxBytes, limits.expectedBytes, limits.checksum, release);
    if (isStoredWhole(settled) && !written.failure && written.parts.length === 1) {
      // Stored whole by this very write: the finished journal is the first save that must name its object (a crash
      // before it only makes the client send those bytes again), and what was held goes once that save landed.
      lock.assertHeld();
      const stored: UploadInfo = { ...writer.journal, parts: written.parts, pending: [] };
      return { info: await this.finish(stored, lock, limits.beforeFinish, written.consumed), stop: written.stop };
    }
    // Against the journal as the writer last saved it: parts may have been saved as they landed (checkpoints).
    let updated = await held.commit(writer.journal, written, lock);
    if (!written.failure && !isFinished(updated) && updated.size !== null && offsetOf(updated) === updated.size) {
      lock.assertHeld();
      updated = await this.finish(updated, lock, limits.beforeFinish);
    }
    return { info: updated, stop: written.stop, failure: written.failure };
  }

  /**
   * An upload stored whole that is larger than a part gets its multipart upload at the first write that will not
   * complete it (by its Content-Length): stored whole, it would hold back every byte of the small PATCHes its client
   * sends until the last, which would then upload all of them; with parts they go into parts as they come (and with
   * `holdBackIn: 'redis'` the background flusher uploads them). The journal names the multipart upload before any
   * part can be sent to it, here or by the flusher of another instance. Smaller uploads stay whole: they never make
   * more than one part anyway.
   */
  private async partsUnlessCompleting(info: UploadInfo, limits: WriteLimits, lock: UploadLock): Promise<UploadInfo> {
    if (!isStoredWhole(info) || info.size! <= info.partSize) return info;
    const { expectedBytes, maxBytes } = limits;
    const bodyBytes = expectedBytes === undefined ? undefined : Math.min(expectedBytes, maxBytes);
    // A body of unknown length may or may not complete it: parts, to be safe.
    if (maxBytes === 0 || bodyBytes === 0 || completesUpload(info, bodyBytes)) return info;
    const key = this.keys.final(info.id);
    const promoted: UploadInfo = {
      ...info,
      multipartUploadId: await this.objects.createMultipartUpload(key, info.metadata),
    };
    try {
      lock.assertHeld();
      await this.journals.save(promoted, lock);
    } catch (error) {
      // Not named by any journal, it would only be found by a bucket's lifecycle rule.
      await this.objects.abortMultipartUpload(key, promoted.multipartUploadId!).catch(() => undefined);
      throw error;
    }
    return promoted;
  }

  /**
   * Asks `beforeFinish` (which may refuse: the upload then stays unfinished), then assembles the final object. The
   * finished journal is saved under `lock`, so that the record of its delivery, if the lock is kept for it, need not
   * read it back (see InfoObjects).
   */
  private async finish(
    info: UploadInfo,
    lock: UploadLock,
    beforeFinish?: BeforeFinish,
    consumed?: readonly HeldKey[],
  ): Promise<UploadInfo> {
    if (info.pending.length > 0) throw new Error(`upload ${info.id} cannot finish while bytes are held back`);
    const key = this.keys.final(info.id);
    if (isStoredWhole(info)) {
      // The writer asked `beforeFinish` and stored the final object: nothing to assemble.
      if (info.parts.length !== 1) throw new Error(`upload ${info.id} is stored whole but has no final object yet`);
    } else if (info.parts.length > 0) {
      await beforeFinish?.(this.viewOf(info));
      await this.complete(key, info);
    } else {
      await beforeFinish?.(this.viewOf(info));
      await this.objects.putEmptyObject(key, info.metadata);
      if (info.multipartUploadId)
        await this.objects.abortMultipartUpload(key, info.multipartUploadId, 'abort the unused multipart upload');
    }
    const finishedAt = this.clock.now().toISOString();
    // The same save that makes the upload finished records that its copy and announcement are owed.
    const finished: UploadInfo = {
      ...info,
      multipartUploadId: null,
      finishedAt,
      announce: this.announceAtFinish(info.id, finishedAt),
    };
    await this.journals.save(finished, lock);
    await this.journals.heldBytesOf(finished).finished(finished, consumed);
    return finished;
  }

  /**
   * Completes the upload's multipart upload. An instance that died after completing it, before saving the journal
   * finished, leaves a journal that still names it while S3 knows it no more (NoSuchUpload): the completion is then
   * done already if the final object is there with the ETag these very parts make (and the upload's size). Anything
   * else (aborted by someone, another object) stays a failure.
   */
  private async complete(key: string, info: UploadInfo): Promise<void> {
    try {
      await this.objects.completeMultipartUpload(key, info.multipartUploadId!, info.parts);
    } catch (error) {
      if (!(error instanceof StorageError) || !isS3NotFound(error.cause)) throw error;
      const object = await this.objects.head(key);
      const expected = multipartEtag(info.parts);
      if (!object || expected === undefined || object.etag !== expected || object.size !== partsEnd(info)) throw error;
    }
  }

  /** What a finish owes: the announcement (attempt 1, by the instance finishing it) and the copy, when configured. */
  private announceAtFinish(id: string, finishedAt: string): AnnounceRecord {
    const target = this.options.copyOnFinish;
    return {
      due: true,
      attempt: 1,
      claimedAt: finishedAt,
      ...(target ? { copy: { bucket: target.bucket, key: `${target.prefix}${id}` } } : {}),
    };
  }

  /** Saves a change of a due announcement; one delivered already, or a journal without one, stays as it is. */
  private async updateAnnouncement(
    upload: Upload,
    lock: UploadLock,
    change: (a: AnnounceRecord) => AnnounceRecord,
  ): Promise<Upload> {
    const info = this.journalOf(upload);
    if (!info.announce?.due) return upload;
    const updated: UploadInfo = { ...info, announce: change(info.announce) };
    lock.assertHeld();
    await this.journals.saveFinished(updated, lock);
    return this.viewOf(updated);
  }

  /** The public view of a journal; remembers the journal for the calls that get the view back. */
  private viewOf(info: UploadInfo): Upload {
    const upload = publicUpload({
      id: info.id,
      size: info.size,
      offset: offsetOf(info),
      metadata: info.metadata,
      metadataHeader: info.metadataHeader,
      createdAt: info.createdAt,
      finishedAt: info.finishedAt,
      expiresAt: info.expiresAt,
      concat: info.concat,
      sizeLimit: info.sizeLimit,
      location: { bucket: this.options.bucket, key: this.keys.final(info.id) },
    });
    this.journalOfUpload.set(upload, info);
    return upload;
  }

  private journalOf(upload: Upload): UploadInfo {
    const info = this.journalOfUpload.get(upload);
    if (!info)
      throw new Error(`upload ${upload.id} was not read from this store: pass what get() or create() returned`);
    return info;
  }

  private outcomeOf(write: JournalWrite): WriteOutcome {
    return { upload: this.viewOf(write.info), stop: write.stop, failure: write.failure };
  }
}
