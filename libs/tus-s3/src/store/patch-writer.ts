import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { LockInterruptedError, UploadLock } from '../locker/locker.interface';
import { ObjectKeys } from './object-keys';
import { RedisHeldBytes } from './redis-held-bytes';
import { mayUploadShortPart } from './part-plan';
import { sendWithBody } from './body-guard';
import { BodyEnd, readUntil } from './read-until';
import { Semaphore } from './semaphore';
import { SpoolFile } from './spool-file';
import { heldInRedisNotConfigured, StorageError } from './store-errors';
import { offsetOf, PendingChunk, UploadedPart, UploadInfo } from './upload-info';

export interface PatchWriterConfig {
  client: S3Client;
  bucket: string;
  keys: ObjectKeys;
  minPartSize: number;
  maxMultipartParts: number;
  equalParts: boolean;
  concurrency: number;
  tempDir?: string;
  /** The largest size an upload may reach; bounds part planning for deferred lengths. */
  uploadLimit: number;
  /** Where held-back bytes go for uploads whose journal says `heldIn: 'redis'`. */
  held?: RedisHeldBytes;
}

export type WriteStop = BodyEnd | 'too-large';

export interface WriteResult {
  /** The journal after this write: what to save in the info object. */
  parts: UploadedPart[];
  pending: PendingChunk[];
  /** Held-back chunks this write folded into a part: delete them once the journal is saved. */
  consumedChunks: PendingChunk[];
  bytesReceived: number;
  stop: WriteStop;
  /** Set when S3 failed: the journal above holds only what is safely stored. */
  failure?: StorageError;
}

/** How many held-back chunk objects are requested ahead of the one being streamed into a part. */
const CHUNK_PREFETCH = 4;

/** The bytes of one part: held-back chunks already in S3 first, then what this request spooled. */
interface PartSource {
  chunks: PendingChunk[];
  spool: SpoolFile | null;
  size: number;
}

/**
 * Turns one PATCH body into parts. Bytes are cut into parts of `info.partSize` as they arrive, each spooled to
 * disk and uploaded while the next one fills (at most `concurrency` at once; waiting for a slot stops reading the
 * body, which is the backpressure). What is left at the end becomes the last part (upload complete), a short part
 * (when the part budget allows), or a held-back chunk object that the next PATCH's first part starts with.
 */
export class PatchWriter {
  private readonly semaphore: Semaphore;
  private readonly uploads: Array<Promise<UploadedPart>> = [];
  private firstFailure: StorageError | undefined;
  /** Set when a part found the lock gone: nothing may be committed after that, not even the journal. */
  private lockLost: LockInterruptedError | undefined;

  constructor(
    private readonly config: PatchWriterConfig,
    private readonly info: UploadInfo,
    private readonly lock: UploadLock,
  ) {
    this.semaphore = new Semaphore(config.concurrency);
  }

  /**
   * @param expectedBytes the body's Content-Length, when known. A body too small to be a part on its own, to an
   *   upload held in Redis, is appended to the Redis run whole and the PartFlusher cuts parts from it later; larger
   *   bodies stream into parts here, as for any upload.
   */
  async write(body: Readable, maxBytes: number, expectedBytes?: number): Promise<WriteResult> {
    if (this.info.heldIn === 'redis' && expectedBytes !== undefined && expectedBytes < this.config.minPartSize) {
      return this.appendToRun(body, maxBytes);
    }
    const { info } = this;
    const startOffset = offsetOf(info);
    let current: PartSource = { chunks: [...info.pending], spool: null, size: offsetOf({ parts: [], pending: info.pending }) };
    let nextPartNumber = info.parts.length + 1;
    let received = 0;
    let end: BodyEnd = 'end';
    let stop: WriteStop | undefined;

    try {
      // Bytes held in a Redis run can add up to more than a part when background uploads lag: cut those first.
      while (current.size >= info.partSize && current.chunks.length === 1 && current.chunks[0].skip !== undefined) {
        const [run] = current.chunks;
        const skip = run.skip ?? 0;
        await this.startPartUpload(nextPartNumber++, { chunks: [{ ...run, size: info.partSize }], spool: null, size: info.partSize });
        const rest = run.size - info.partSize;
        current = { chunks: rest > 0 ? [{ key: run.key, size: rest, skip: skip + info.partSize }] : [], spool: null, size: rest };
      }
      for await (let data of readUntil(body, this.lock.signal, (e) => (end = e))) {
        if (received + data.length > maxBytes) {
          data = data.subarray(0, maxBytes - received);
          stop = 'too-large';
        }
        while (data.length > 0 && !this.firstFailure && !this.lockLost) {
          current.spool ??= await SpoolFile.create(this.config.tempDir);
          const piece = data.subarray(0, info.partSize - current.size);
          data = data.subarray(piece.length);
          await current.spool.write(piece);
          current.size += piece.length;
          received += piece.length;
          if (current.size === info.partSize) {
            await this.startPartUpload(nextPartNumber++, current);
            current = { chunks: [], spool: null, size: 0 };
          }
        }
        if (stop || this.firstFailure || this.lockLost) break;
      }
      stop ??= end;

      const settled = await Promise.allSettled(this.uploads);
      if (this.lockLost) throw this.lockLost;
      const newParts = contiguousSuccesses(settled);
      if (this.firstFailure || newParts.length < settled.length) {
        // Bytes after a failed part are not stored contiguously: drop them; the client resends from the new offset.
        await current.spool?.dispose();
        return this.result(newParts, newParts.length > 0 ? [] : [...info.pending], received, stop, this.firstFailure);
      }

      const offsetAfter = startOffset + received;
      const isLast = info.size !== null && offsetAfter === info.size;
      const partsUsed = info.parts.length + newParts.length;
      try {
        if (current.size > 0 && (isLast || this.mayCutShortPart(current.size, partsUsed, offsetAfter))) {
          newParts.push(await this.uploadPart(nextPartNumber, current));
          return this.result(newParts, [], received, stop);
        }
        const partsEnd = offsetOf({ parts: [...info.parts, ...newParts], pending: [] });
        const pending = await this.holdBack(current, offsetAfter, partsEnd);
        return this.result(newParts, pending, received, stop);
      } catch (error) {
        // The tail did not reach S3, but everything before it did: keep that, report the failure.
        if (error instanceof StorageError) return this.result(newParts, current.chunks, received, stop, error);
        throw error;
      }
    } catch (error) {
      await current.spool?.dispose();
      await Promise.allSettled(this.uploads);
      throw error;
    }
  }

  /** A small body to an upload held in Redis: into the run; only the last bytes of the upload make parts now. */
  private async appendToRun(body: Readable, maxBytes: number): Promise<WriteResult> {
    const { info } = this;
    const startOffset = offsetOf(info);
    const spool = await SpoolFile.create(this.config.tempDir);
    let received = 0;
    let end: BodyEnd = 'end';
    let stop: WriteStop | undefined;
    try {
      for await (let data of readUntil(body, this.lock.signal, (e) => (end = e))) {
        if (received + data.length > maxBytes) {
          data = data.subarray(0, maxBytes - received);
          stop = 'too-large';
        }
        await spool.write(data);
        received += data.length;
        if (stop) break;
      }
      stop ??= end;
      const partsEnd = offsetOf({ parts: info.parts, pending: [] });
      const before: PartSource = { chunks: [...info.pending], spool, size: startOffset - partsEnd + spool.size };
      let pending: PendingChunk[];
      try {
        pending = await this.holdBack(before, startOffset + received, partsEnd);
      } catch (error) {
        if (error instanceof StorageError) return this.result([], [...info.pending], received, stop, error);
        throw error;
      }
      const complete = info.size !== null && startOffset + received === info.size;
      return complete ? await this.uploadRunAsLastParts(pending, received, stop) : this.result([], pending, received, stop);
    } finally {
      await spool.dispose();
    }
  }

  /** The upload is complete and its tail is a Redis run: cut it into the remaining parts, the last one short. */
  private async uploadRunAsLastParts(pending: PendingChunk[], received: number, stop: WriteStop): Promise<WriteResult> {
    const run = pending[0];
    let nextPartNumber = this.info.parts.length + 1;
    for (let done = 0; run && done < run.size; done += this.info.partSize) {
      const size = Math.min(this.info.partSize, run.size - done);
      const slice = { key: run.key, size, skip: (run.skip ?? 0) + done };
      await this.startPartUpload(nextPartNumber++, { chunks: [slice], spool: null, size });
    }
    const newParts = contiguousSuccesses(await Promise.allSettled(this.uploads));
    if (this.lockLost) throw this.lockLost;
    if (newParts.length === this.uploads.length) return this.result(newParts, [], received, stop);
    const stored = newParts.reduce((sum, part) => sum + part.size, 0);
    const rest = { key: run.key, size: run.size - stored, skip: (run.skip ?? 0) + stored };
    return this.result(newParts, [rest], received, stop, this.firstFailure);
  }

  private mayCutShortPart(bytes: number, partsUsed: number, offsetAfter: number): boolean {
    return mayUploadShortPart({
      bytes,
      partsUsed,
      offsetAfter,
      uploadLimit: this.info.size ?? this.config.uploadLimit,
      partSize: this.info.partSize,
      minPartSize: this.config.minPartSize,
      maxMultipartParts: this.config.maxMultipartParts,
      equalParts: this.config.equalParts,
    });
  }

  private result(
    newParts: UploadedPart[],
    pending: PendingChunk[],
    bytesReceived: number,
    stop: WriteStop,
    failure?: StorageError,
  ): WriteResult {
    const keep = new Set(pending.map((c) => c.key));
    return {
      parts: [...this.info.parts, ...newParts],
      pending,
      consumedChunks: this.info.pending.filter((c) => !keep.has(c.key)),
      bytesReceived,
      stop,
      failure,
    };
  }

  private async startPartUpload(partNumber: number, source: PartSource): Promise<void> {
    await this.semaphore.acquire();
    const upload = this.uploadPart(partNumber, source).finally(() => this.semaphore.release());
    upload.catch((error: unknown) => {
      if (error instanceof LockInterruptedError) this.lockLost ??= error;
      else this.firstFailure ??= error instanceof StorageError ? error : new StorageError(`part ${partNumber} upload failed`, error);
    });
    this.uploads.push(upload);
  }

  private async uploadPart(partNumber: number, source: PartSource): Promise<UploadedPart> {
    try {
      await source.spool?.close();
      this.lock.assertHeld();
      const body = this.partBody(source);
      const output = await sendWithBody(body, this.lock.lost, (abortSignal) =>
        this.config.client.send(
          new UploadPartCommand({
            Bucket: this.config.bucket,
            Key: this.config.keys.final(this.info.id),
            UploadId: this.info.multipartUploadId!,
            PartNumber: partNumber,
            ContentLength: source.size,
            Body: body,
          }),
          { abortSignal },
        ),
      );
      if (!output.ETag) throw new StorageError(`S3 returned no ETag for part ${partNumber}`);
      return { partNumber, size: source.size, etag: output.ETag };
    } catch (error) {
      if (this.lock.lost.aborted) throw this.lock.lost.reason;
      if (error instanceof LockInterruptedError || error instanceof StorageError) throw error;
      throw new StorageError(`part ${partNumber} upload failed`, error);
    } finally {
      await source.spool?.dispose();
    }
  }

  private partBody(source: PartSource): Readable {
    if (source.chunks.length === 0 && source.spool) return source.spool.read();
    const { held } = this.config;
    const open = (chunk: PendingChunk): Promise<Readable> =>
      held && RedisHeldBytes.isRedisKey(chunk.key)
        ? Promise.resolve(held.read(chunk.key, chunk.size, chunk.skip ?? 0))
        : this.config.client
            .send(new GetObjectCommand({ Bucket: this.config.bucket, Key: chunk.key }), { abortSignal: this.lock.lost })
            .then((object) => object.Body as Readable);
    async function* bytes(): AsyncGenerator<Buffer> {
      // Held-back chunks are many small objects: ask for the next few while the current one streams.
      const opening: Array<Promise<Readable>> = [];
      const prefetch = (index: number) => {
        if (index >= source.chunks.length) return;
        const request = open(source.chunks[index]);
        request.catch(() => undefined); // awaited in order below; this only keeps an early failure from going unhandled
        opening.push(request);
      };
      for (let i = 0; i < CHUNK_PREFETCH; i++) prefetch(i);
      try {
        for (let i = 0; i < source.chunks.length; i++) {
          const body = await opening[i];
          prefetch(i + CHUNK_PREFETCH);
          yield* body;
        }
        if (source.spool) yield* source.spool.read();
      } finally {
        // Abandoned part-way (the upload failed): close the responses we opened but did not read.
        for (const request of opening) void request.then((body) => body.destroy(), () => undefined);
      }
    }
    return Readable.from(bytes(), { objectMode: false });
  }

  /**
   * Keeps the bytes that did not make a part until the next PATCH. Returns the held-back chunks after this write:
   * in S3, one more chunk object; in Redis, the one run of bytes after the parts, grown by this write.
   */
  private async holdBack(current: PartSource, offsetAfter: number, partsEnd: number): Promise<PendingChunk[]> {
    const { spool } = current;
    if (!spool || spool.size === 0) {
      await spool?.dispose();
      return [...current.chunks];
    }
    try {
      await spool.close();
      this.lock.assertHeld();
      if (this.info.heldIn === 'redis') return [await this.holdBackInRedis(current, spool, partsEnd)];
      const key = this.config.keys.pendingChunk(this.info.id, offsetAfter - spool.size, randomBytes(4).toString('hex'));
      const body = spool.read();
      await sendWithBody(body, this.lock.lost, (abortSignal) =>
        this.config.client.send(
          new PutObjectCommand({ Bucket: this.config.bucket, Key: key, Body: body, ContentLength: spool.size }),
          { abortSignal },
        ),
      );
      return [...current.chunks, { key, size: spool.size }];
    } catch (error) {
      if (this.lock.lost.aborted) throw this.lock.lost.reason;
      if (error instanceof LockInterruptedError || error instanceof StorageError) throw error;
      throw new StorageError('could not store the received bytes', error);
    } finally {
      await spool.dispose();
    }
  }

  private async holdBackInRedis(current: PartSource, spool: SpoolFile, partsEnd: number): Promise<PendingChunk> {
    const held = this.config.held;
    if (!held) throw heldInRedisNotConfigured(this.info.id);
    // Either the run the upload already has grows, or (after a part was cut here) a new one starts at the parts' end.
    const run = current.chunks[0];
    const key = run?.key ?? held.journalKey(this.info.id, partsEnd);
    const skip = run?.skip ?? 0;
    let stored = run ? skip + run.size : 0;
    for await (const piece of spool.read(1024 * 1024)) {
      this.lock.assertHeld();
      const data = piece as Buffer;
      if (stored === 0) await held.start(key, data);
      else await held.append(key, stored, data);
      stored += data.length;
    }
    return { key, size: stored - skip, skip };
  }
}

function contiguousSuccesses(settled: PromiseSettledResult<UploadedPart>[]): UploadedPart[] {
  const parts: UploadedPart[] = [];
  for (const outcome of settled) {
    if (outcome.status !== 'fulfilled') break;
    parts.push(outcome.value);
  }
  return parts;
}
