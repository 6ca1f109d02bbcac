import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { UploadLock } from '../locker/locker.interface';
import { UploadMetadata } from '../protocol/metadata';
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
import { toS3Metadata } from './ascii-metadata';
import { contentTypeOf } from '../protocol/content-type';
import { isValidUploadId } from '../protocol/upload-id';
import { ObjectKeys } from './object-keys';
import { choosePartSize } from './part-plan';
import { PatchWriter, WriteStop } from './patch-writer';
import { PartFlusher } from './part-flusher';
import { RedisHeldBytes } from './redis-held-bytes';
import { RedisJournal } from './redis-journal';
import {
  heldInRedisNotConfigured,
  isHeldBytesMissing,
  isS3NotFound,
  StorageError,
  UploadExistsError,
  UploadNotFoundError,
} from './store-errors';
import {
  ByteRange,
  ConcatenationCapable,
  FinishedCopyCapable,
  isFinished,
  NewUpload,
  ObjectLocation,
  TusDataStore,
  Upload,
  UploadContent,
  WriteLimits,
  WriteOutcome,
} from './tus-data-store';
import { offsetOf, PendingChunk, UploadedPart, UploadInfo } from './upload-info';


/**
 * With `holdBackIn: 'redis'`, parts uploaded in the background are written into the journal in S3 once this many
 * have gathered (until then Redis records them). Were Redis to lose them, the client would resend at most these.
 */
const JOURNAL_SAVE_EVERY_PARTS = 8;

/** Partial uploads copied into a final one at once. */
const COPY_CONCURRENCY = 4;

/** A write as the journal sees it: the journal after it, and how it ended. */
interface JournalWrite {
  info: UploadInfo;
  stop: WriteStop;
  /** Present when the write stopped because S3 failed; `info` then holds what is safely stored. */
  failure?: StorageError;
}

/**
 * The tus data store on S3. Per upload: `<prefix><id>.info` (the journal, see {@link UploadInfo}), a multipart
 * upload for `<prefix><id>` that PATCH bodies become parts of, and while fewer bytes than a part are waiting,
 * `<prefix><id>.chunk.*` objects holding them (with `holdBackIn: 'redis'`, a Redis string instead: see
 * {@link RedisHeldBytes}), so any instance can continue the upload. Finishing completes the
 * multipart upload; the info object stays. It knows nothing of HTTP; callers hold the upload's lock.
 */
@Injectable()
export class S3Store implements TusDataStore, ConcatenationCapable, FinishedCopyCapable, BeforeApplicationShutdown {
  private readonly logger = new Logger(S3Store.name);
  private readonly keys: ObjectKeys;
  /** The journal behind each Upload this store handed out: callers see the upload, never its journal. */
  private readonly journals = new WeakMap<Upload, UploadInfo>();
  private readonly redisJournal: RedisJournal | null;
  private readonly flusher: PartFlusher | null;

  constructor(
    @Inject(TUS_S3_CLIENT) private readonly client: S3Client,
    @Inject(TUS_S3_OPTIONS) private readonly options: ResolvedTusS3Options,
    @Inject(TUS_CLOCK) private readonly clock: Clock,
    @Inject(TUS_ID_GENERATOR) private readonly newId: IdGenerator,
    @Inject(TUS_HELD_BYTES) private readonly held: RedisHeldBytes | null,
  ) {
    this.keys = new ObjectKeys(options.objectPrefix);
    this.redisJournal = held ? new RedisJournal(held) : null;
    this.flusher = held ? new PartFlusher(client, options.bucket, this.keys, held, (id) => this.loadJournal(id)) : null;
  }

  private get bucket(): string {
    return this.options.bucket;
  }

  /** Lets background part uploads finish while the S3 client and Redis are still open. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.flusher?.idle();
  }

  async create(upload: NewUpload): Promise<Upload> {
    return this.viewOf(await this.createJournal(upload));
  }

  async get(id: string, lock?: UploadLock): Promise<Upload> {
    return this.viewOf(await this.loadJournal(id, lock));
  }

  async write(upload: Upload, body: Readable, lock: UploadLock, limits: WriteLimits): Promise<WriteOutcome> {
    return this.outcomeOf(await this.writeJournal(this.journalOf(upload), body, lock, limits.maxBytes, limits.expectedBytes));
  }

  async declareLength(upload: Upload, size: number, lock: UploadLock): Promise<Upload> {
    return this.viewOf(await this.declareJournalLength(this.journalOf(upload), size, lock));
  }

  async terminate(upload: Upload, lock: UploadLock): Promise<void> {
    await this.terminateJournal(this.journalOf(upload), lock);
  }

  async read(upload: Upload, range?: ByteRange): Promise<UploadContent> {
    return this.readJournal(this.journalOf(upload), range);
  }

  async concatenate(final: Upload, partials: readonly Upload[], lock: UploadLock): Promise<WriteOutcome> {
    const journals = partials.map((partial) => this.journalOf(partial));
    return this.outcomeOf(await this.concatenateJournals(this.journalOf(final), journals, lock));
  }

  /** The public view of a journal; remembers the journal for the calls that get the view back. */
  private viewOf(info: UploadInfo): Upload {
    const upload: Upload = Object.freeze({
      id: info.id,
      size: info.size,
      offset: offsetOf(info),
      metadata: info.metadata,
      metadataHeader: info.metadataHeader,
      createdAt: info.createdAt,
      finishedAt: info.finishedAt,
      ...(info.concat ? { concat: info.concat } : {}),
      ...(info.sizeLimit !== undefined ? { sizeLimit: info.sizeLimit } : {}),
      location: { bucket: this.bucket, key: this.keys.final(info.id) },
    });
    this.journals.set(upload, info);
    return upload;
  }

  private journalOf(upload: Upload): UploadInfo {
    const info = this.journals.get(upload);
    if (!info) throw new Error(`upload ${upload.id} was not read from this store: pass what get() or create() returned`);
    return info;
  }

  private outcomeOf(write: JournalWrite): WriteOutcome {
    return { upload: this.viewOf(write.info), stop: write.stop, failure: write.failure };
  }

  private async createJournal(upload: NewUpload): Promise<UploadInfo> {
    const id = upload.id ?? this.newId();
    if (!isValidUploadId(id)) throw new Error(`not a valid upload id: ${JSON.stringify(id)}`);
    if (upload.id !== undefined && (await this.infoExists(id))) throw new UploadExistsError(id);
    const partSize = choosePartSize(this.options, upload.size, this.options.maxSize);
    const base = {
      version: 1 as const,
      id,
      size: upload.size,
      metadataHeader: upload.metadataHeader,
      metadata: upload.metadata,
      createdAt: this.clock.now().toISOString(),
      partSize,
      parts: [],
      pending: [],
      ...(this.held ? { heldIn: 'redis' as const } : {}),
      ...(upload.concat ? { concat: upload.concat } : {}),
      ...(upload.sizeLimit !== undefined ? { sizeLimit: upload.sizeLimit } : {}),
    };
    if (upload.size === 0) {
      // Nothing will ever be PATCHed: S3 cannot complete a multipart upload without parts, so write it whole now.
      await this.putEmptyFinal(id, upload.metadata);
      const info: UploadInfo = { ...base, multipartUploadId: null, finishedAt: this.clock.now().toISOString() };
      await this.saveInfo(info);
      return info;
    }
    const created = await this.s3('create the multipart upload', () =>
      this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: this.keys.final(id),
          ContentType: contentTypeOf(upload.metadata).mime,
          Metadata: toS3Metadata(upload.metadata),
        }),
      ),
    );
    const info: UploadInfo = { ...base, multipartUploadId: created.UploadId!, finishedAt: null };
    await this.saveInfo(info);
    return info;
  }

  /** The upload's journal. Pass the upload's lock when holding it: only then may the journal be cached. */
  private async loadJournal(id: string, lock?: UploadLock): Promise<UploadInfo> {
    if (!isValidUploadId(id)) throw new UploadNotFoundError(id);
    try {
      const cached = await this.redisJournal?.fromCache(id);
      if (cached) return cached;
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.keys.info(id) }));
      const info = JSON.parse(await object.Body!.transformToString('utf8')) as UploadInfo;
      if (info.version !== 1 || info.id !== id) throw new StorageError(`info object of ${id} is not readable`);
      if (info.heldIn !== 'redis') return info;
      return await this.requireRedisJournal(id).fromJournal(info, lock !== undefined);
    } catch (error) {
      if (isS3NotFound(error)) throw new UploadNotFoundError(id);
      if (error instanceof StorageError) throw error;
      throw new StorageError('could not read the upload info', error);
    }
  }

  /**
   * Appends a request body at the upload's current offset (the caller checked it), at most `maxBytes`. Saves the
   * journal even when the body stopped early, and finishes the upload when its last byte arrived.
   */
  private async writeJournal(
    info: UploadInfo,
    body: Readable,
    lock: UploadLock,
    maxBytes: number,
    expectedBytes?: number,
  ): Promise<JournalWrite> {
    const writer = new PatchWriter(
      {
        client: this.client,
        bucket: this.bucket,
        keys: this.keys,
        minPartSize: this.options.minPartSize,
        maxMultipartParts: this.options.maxMultipartParts,
        equalParts: this.options.equalParts || (await this.mustCutEqualParts(info, expectedBytes)),
        concurrency: this.options.partUploadConcurrency,
        tempDir: this.options.tempDir,
        uploadLimit: this.options.maxSize,
        held: this.held ?? undefined,
      },
      info,
      lock,
    );
    const result = await writer.write(body, maxBytes, expectedBytes);
    let updated: UploadInfo = { ...info, parts: result.parts, pending: result.pending };
    if (info.heldIn === 'redis' && result.failure && isHeldBytesMissing(result.failure)) {
      // Redis lost bytes the journal counts on (evicted, or restarted without persistence): fall back to the parts,
      // so that the client's HEAD finds the offset they reach and it resends the rest, instead of failing forever.
      this.logger.warn(`held-back bytes of upload ${info.id} are missing from Redis; its offset falls back to its parts`);
      lock.assertHeld();
      for (const run of info.pending) await this.requireHeld(info.id).discard(run.key);
      updated = { ...updated, pending: [] };
    }
    if (info.heldIn === 'redis') {
      updated = await this.saveRedisJournal(info, updated, lock);
    } else if (result.bytesReceived > 0 || result.consumedChunks.length > 0) {
      lock.assertHeld();
      await this.saveInfo(updated);
      await this.deleteChunks(info.id, result.consumedChunks);
    }
    if (!result.failure && !isFinished(updated) && updated.size !== null && offsetOf(updated) === updated.size) {
      lock.assertHeld();
      updated = await this.finish(updated);
    }
    const run = updated.pending[0];
    if (this.flusher && !isFinished(updated) && run && run.size >= updated.partSize) this.flusher.schedule(updated.id);
    return { info: updated, stop: result.stop, failure: result.failure };
  }

  /**
   * Whether this write must cut every part at `partSize`. The PartFlusher uploads part n of an upload held in Redis
   * as `partSize` bytes without the lock; a request cutting part n shorter meanwhile would store other bytes under
   * the same part number. The flusher announces itself in Redis before it looks at the upload, so a request that
   * finds no announcement, and less than a part held, may cut a short part: no flush of that part can be running.
   */
  private async mustCutEqualParts(info: UploadInfo, expectedBytes: number | undefined): Promise<boolean> {
    if (info.heldIn !== 'redis') return false;
    // Small bodies go to the run whole (see PatchWriter.write): they never cut a short part.
    if (expectedBytes !== undefined && expectedBytes < this.options.minPartSize) return true;
    const run = info.pending[0];
    if (run && run.size >= info.partSize) return true;
    return this.requireHeld(info.id).isFlushing(info.id);
  }

  /**
   * After a write to an upload held in Redis. The journal in S3 must change when this request uploaded parts itself
   * (nothing else records them) or the run moved; parts the PartFlusher uploaded are recorded in Redis and adopted
   * from there, so they are written to S3 only once several have gathered. Segments that parts now cover are
   * dropped from Redis either way: it holds about what is not in parts yet.
   */
  private async saveRedisJournal(before: UploadInfo, after: UploadInfo, lock: UploadLock): Promise<UploadInfo> {
    const journal = this.requireRedisJournal(after.id);
    const held = this.requireHeld(after.id);
    const partsEnd = offsetOf({ parts: after.parts, pending: [] });
    const run = after.pending[0];
    const heldBase = run ? partsEnd - (run.skip ?? 0) : partsEnd;
    const updated: UploadInfo = { ...after, heldBase };
    if (run && journal.shouldTrim(after.id, run.key, run.skip ?? 0, after.partSize)) {
      lock.assertHeld();
      await held.trim(run.key, run.skip ?? 0);
      journal.trimmed(after.id, run.key, run.skip ?? 0);
    }
    const persisted = journal.persisted(after.id);
    const mustSave =
      persisted === undefined ||
      after.parts.length > before.parts.length ||
      journal.base(persisted) !== heldBase ||
      updated.parts.length - persisted.parts.length >= JOURNAL_SAVE_EVERY_PARTS;
    if (!mustSave) return updated;
    lock.assertHeld();
    await this.saveInfo(updated);
    if (journal.base(persisted ?? before) !== heldBase) await held.discard(journal.runKey(persisted ?? before)).catch(() => undefined);
    const adopted = updated.parts.slice((persisted ?? before).parts.length).map((p) => p.partNumber);
    await held.forgetFlushed(after.id, adopted).catch(() => undefined);
    return updated;
  }

  /** Sets a deferred length (once). Finishes the upload when the bytes are all there already. */
  private async declareJournalLength(info: UploadInfo, size: number, lock: UploadLock): Promise<UploadInfo> {
    const updated: UploadInfo = { ...info, size };
    if (offsetOf(updated) === size && updated.pending.length > 0) {
      // Complete already, but its tail is held back: an empty write folds those chunks into the last part.
      const outcome = await this.writeJournal(updated, Readable.from([]), lock, 0);
      if (outcome.failure) throw outcome.failure;
      return outcome.info;
    }
    lock.assertHeld();
    await this.saveInfo(updated);
    return offsetOf(updated) === size ? this.finish(updated) : updated;
  }

  private async readJournal(info: UploadInfo, range?: ByteRange): Promise<UploadContent> {
    const output = await this.s3('read the upload', () =>
      this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.keys.final(info.id),
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
      ),
    ).catch((error) => {
      if (error instanceof StorageError && isS3NotFound(error.cause)) throw new UploadNotFoundError(info.id);
      throw error;
    });
    return {
      body: output.Body as Readable,
      contentLength: output.ContentLength ?? (range ? range.end - range.start + 1 : info.size ?? 0),
    };
  }

  /**
   * Assembles a final upload from finished partial uploads (the caller holds all their locks). When every partial
   * can be a part of its own (at least the part minimum, except the last, and at most the part maximum), S3 copies
   * them server-side (UploadPartCopy) and no byte passes through this server; otherwise their bytes are streamed
   * through the ordinary write path.
   */
  private async concatenateJournals(info: UploadInfo, partials: readonly UploadInfo[], lock: UploadLock): Promise<JournalWrite> {
    const sizes = partials.map((p) => p.size ?? 0);
    const copyable =
      info.multipartUploadId !== null &&
      partials.length <= this.options.maxMultipartParts &&
      sizes.every((size, i) => size > 0 && size <= this.options.maxPartSize && (size >= this.options.minPartSize || i === sizes.length - 1));
    if (!copyable) return this.writeJournal(info, this.readConcatenated(partials), lock, info.size ?? 0);
    const parts: UploadedPart[] = [];
    for (let i = 0; i < partials.length; i += COPY_CONCURRENCY) {
      const batch = partials.slice(i, i + COPY_CONCURRENCY);
      parts.push(...(await Promise.all(batch.map((partial, j) => this.copyPart(info, partial, i + j + 1, lock)))));
    }
    const copied: UploadInfo = { ...info, parts };
    lock.assertHeld();
    await this.saveInfo(copied);
    return { info: await this.finish(copied), stop: 'end' };
  }

  private async copyPart(info: UploadInfo, partial: UploadInfo, partNumber: number, lock: UploadLock): Promise<UploadedPart> {
    lock.assertHeld();
    const output = await this.s3(`copy upload ${partial.id} into upload ${info.id}`, () =>
      this.client.send(
        new UploadPartCopyCommand({
          Bucket: this.bucket,
          Key: this.keys.final(info.id),
          UploadId: info.multipartUploadId!,
          PartNumber: partNumber,
          CopySource: this.copySource(partial),
        }),
        { abortSignal: lock.lost },
      ),
    );
    return { partNumber, size: partial.size ?? 0, etag: output.CopyPartResult!.ETag! };
  }

  private copySource(info: UploadInfo): string {
    return `${this.bucket}/${encodeURIComponent(this.keys.final(info.id)).replace(/%2F/g, '/')}`;
  }

  /** The bytes of several finished uploads, one after the other: the body that assembles a final upload. */
  private readConcatenated(uploads: readonly UploadInfo[]): Readable {
    const read = (info: UploadInfo) => this.readJournal(info);
    async function* bytes(): AsyncGenerator<Buffer> {
      for (const info of uploads) yield* (await read(info)).body;
    }
    return Readable.from(bytes(), { objectMode: false });
  }

  /** Removes every trace: multipart upload, held-back chunks, the final object when finished, then the journal. */
  private async terminateJournal(info: UploadInfo, lock: UploadLock): Promise<void> {
    lock.assertHeld();
    if (info.multipartUploadId) {
      await this.ignoreMissing('abort the multipart upload', () =>
        this.client.send(
          new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.keys.final(info.id), UploadId: info.multipartUploadId! }),
        ),
      );
    }
    await this.deleteChunks(info.id, info.pending);
    if (info.finishedAt) await this.deleteObject(this.keys.final(info.id));
    await this.deleteObject(this.keys.info(info.id));
    if (info.heldIn === 'redis') await this.forgetRedisState(info);
  }

  /** Server-side copy of a finished upload to `copyOnFinish` (single CopyObject: up to 5 GiB). */
  async copyFinished(upload: Upload): Promise<ObjectLocation | undefined> {
    const target = this.options.copyOnFinish;
    if (!target) return undefined;
    const info = this.journalOf(upload);
    const destination = { bucket: target.bucket, key: `${target.prefix}${info.id}` };
    await this.s3(`copy the upload to ${destination.bucket}`, () =>
      this.client.send(
        new CopyObjectCommand({ Bucket: destination.bucket, Key: destination.key, CopySource: this.copySource(info) }),
      ),
    );
    return destination;
  }

  private async finish(info: UploadInfo): Promise<UploadInfo> {
    if (info.pending.length > 0) throw new Error(`upload ${info.id} cannot finish while bytes are held back`);
    if (info.parts.length === 0) {
      await this.putEmptyFinal(info.id, info.metadata);
    } else {
      await this.s3('complete the multipart upload', () =>
        this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: this.keys.final(info.id),
            UploadId: info.multipartUploadId!,
            MultipartUpload: { Parts: info.parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
          }),
        ),
      );
    }
    if (info.parts.length === 0 && info.multipartUploadId) {
      await this.ignoreMissing('abort the unused multipart upload', () =>
        this.client.send(
          new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.keys.final(info.id), UploadId: info.multipartUploadId! }),
        ),
      );
    }
    const finished: UploadInfo = { ...info, multipartUploadId: null, finishedAt: this.clock.now().toISOString() };
    await this.saveInfo(finished);
    // Nothing changes any more: the journal's version and flushed-part records in Redis have served their purpose.
    if (finished.heldIn === 'redis') await this.forgetRedisState(finished);
    return finished;
  }

  private async infoExists(id: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keys.info(id) }));
      return true;
    } catch (error) {
      if (isS3NotFound(error)) return false;
      throw new StorageError('could not check whether the upload exists', error);
    }
  }

  private async putEmptyFinal(id: string, metadata: UploadMetadata): Promise<void> {
    await this.s3('store the empty upload', () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.keys.final(id),
          Body: '',
          ContentLength: 0,
          ContentType: contentTypeOf(metadata).mime,
          Metadata: toS3Metadata(metadata),
        }),
      ),
    );
  }

  private async saveInfo(info: UploadInfo): Promise<void> {
    const journal = info.heldIn === 'redis' ? { ...info, pending: [] } : info;
    const body = JSON.stringify(journal);
    const version = info.heldIn === 'redis' ? await this.requireRedisJournal(info.id).invalidate(info.id) : undefined;
    await this.s3('save the upload info', () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.keys.info(info.id),
          Body: body,
          ContentType: 'application/json',
        }),
      ),
    );
    if (version !== undefined) this.requireRedisJournal(info.id).saved(version, journal);
  }

  private async deleteChunks(uploadId: string, chunks: readonly PendingChunk[]): Promise<void> {
    await Promise.all(
      chunks.map((chunk) =>
        RedisHeldBytes.isRedisKey(chunk.key) ? this.requireHeld(uploadId).discard(chunk.key) : this.deleteObject(chunk.key),
      ),
    );
  }

  private async forgetRedisState(info: UploadInfo): Promise<void> {
    const journal = this.requireRedisJournal(info.id);
    journal.forget(info.id);
    await this.requireHeld(info.id).discard(journal.runKey(info)).catch(() => undefined);
    await this.requireHeld(info.id).forgetUpload(info.id).catch(() => undefined);
  }

  private requireHeld(uploadId: string): RedisHeldBytes {
    if (!this.held) throw heldInRedisNotConfigured(uploadId);
    return this.held;
  }

  private requireRedisJournal(uploadId: string): RedisJournal {
    if (!this.redisJournal) throw heldInRedisNotConfigured(uploadId);
    return this.redisJournal;
  }

  private async deleteObject(key: string): Promise<void> {
    await this.ignoreMissing(`delete ${key}`, () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })));
  }

  private async ignoreMissing(what: string, call: () => Promise<unknown>): Promise<void> {
    try {
      await call();
    } catch (error) {
      if (isS3NotFound(error)) return;
      throw new StorageError(`could not ${what}`, error);
    }
  }

  private async s3<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      this.logger.warn(`S3 failed to ${what}: ${(error as Error)?.name}: ${(error as Error)?.message}`);
      throw new StorageError(`could not ${what}`, error);
    }
  }
}
