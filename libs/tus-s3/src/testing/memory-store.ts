import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { UploadLock } from '../locker/locker.interface';
import type { UploadMetadata } from '../protocol/metadata';
import { isValidUploadId } from '../protocol/upload-id';
import { BodyChecksum } from '../store/body-checksum';
import { readUntil } from '../store/read-until';
import { StorageError, UploadExistsError, UploadNotFoundError } from '../store/store-errors';
import type {
  BeforeFinish,
  ByteRange,
  ConcatenationCapable,
  CreationLock,
  FinishedCopyCapable,
  NewUpload,
  ObjectLocation,
  TusDataStore,
  Upload,
  UploadConcat,
  UploadContent,
  WriteLimits,
  WriteOutcome,
  WriteStop,
} from '../store/tus-data-store';
import { publicUpload } from '../store/tus-data-store';
import type { Clock, IdGenerator } from '../tus-s3.constants';

export interface MemoryStoreOptions {
  /** The bucket named in each upload's `location` (nothing is stored there). Default `memory`. */
  bucket?: string;
  /** Prefix of each upload's `location.key`, as `objectPrefix` would give it. Default none. */
  objectPrefix?: string;
  /** Where `copyFinished` puts copies (kept in memory, see {@link MemoryStore.copyAt}); none by default. */
  copyOnFinish?: { bucket: string; prefix?: string };
  /** Stamps createdAt and finishedAt. Default: the system clock. */
  clock?: Clock;
  /** Ids of uploads created without one. Default: 32 random hex characters, like the module's. */
  newId?: IdGenerator;
  /** Unfinished uploads expire this long after creation (`expireAfterMs`); default never. */
  expireAfterMs?: number;
}

/** A storage failure to simulate on the next write or concatenation: what arrived before `afterBytes` is kept. */
export interface InjectedWriteFailure {
  afterBytes: number;
  error?: Error;
}

interface StoredUpload {
  readonly id: string;
  size: number | null;
  readonly metadata: UploadMetadata;
  readonly metadataHeader: string;
  readonly createdAt: string;
  finishedAt: string | null;
  readonly expiresAt?: string;
  readonly concat?: UploadConcat;
  readonly sizeLimit?: number;
  chunks: Buffer[];
  offset: number;
}

/**
 * A {@link TusDataStore} that keeps everything in memory, for tests of the protocol layer and of an app's hooks and
 * listeners: no S3, no Redis. It keeps the contract of the real store: writes need the upload's lock (checked with
 * `assertHeld()` before anything is committed) and keep what arrived also when the body stops early, an upload
 * finishes when its offset reaches its size, `get` and `read` throw UploadNotFoundError, `create` with a taken id
 * throws UploadExistsError, and only views this store returned (and still current) are accepted back.
 *
 * Single-process only, and unbounded: for tests, not production.
 */
export class MemoryStore implements TusDataStore, ConcatenationCapable, FinishedCopyCapable {
  private readonly uploads = new Map<string, StoredUpload>();
  private readonly copies = new Map<string, Buffer>();
  /** Views handed out: like the real store, only what `get`/`create`/`write` returned may be passed back. */
  private readonly issued = new WeakSet<Upload>();
  private readonly bucket: string;
  private readonly objectPrefix: string;
  private readonly clock: Clock;
  private readonly newId: IdGenerator;
  private injectedFailure: InjectedWriteFailure | undefined;

  constructor(private readonly options: MemoryStoreOptions = {}) {
    this.bucket = options.bucket ?? 'memory';
    this.objectPrefix = options.objectPrefix ?? '';
    this.clock = options.clock ?? { now: () => new Date() };
    this.newId = options.newId ?? (() => randomBytes(16).toString('hex'));
  }

  /** Takes the creation's lock as S3Store does (it guards nothing here: nothing is cached). */
  async create(upload: NewUpload, lockFor?: CreationLock): Promise<Upload> {
    const id = upload.id ?? this.newId();
    if (!isValidUploadId(id)) throw new Error(`not a valid upload id: ${JSON.stringify(id)}`);
    if (this.uploads.has(id)) throw new UploadExistsError(id);
    await lockFor?.(id);
    const now = this.clock.now().toISOString();
    const stored: StoredUpload = {
      id,
      size: upload.size,
      metadata: Object.freeze({ ...upload.metadata }),
      metadataHeader: upload.metadataHeader,
      createdAt: now,
      finishedAt: upload.size === 0 ? now : null,
      ...(this.options.expireAfterMs !== undefined
        ? { expiresAt: new Date(Date.parse(now) + this.options.expireAfterMs).toISOString() }
        : {}),
      ...(upload.concat ? { concat: upload.concat } : {}),
      ...(upload.sizeLimit !== undefined ? { sizeLimit: upload.sizeLimit } : {}),
      chunks: [],
      offset: 0,
    };
    this.uploads.set(id, stored);
    return this.viewOf(stored);
  }

  async get(id: string, _lock?: UploadLock): Promise<Upload> {
    return this.viewOf(this.stored(id));
  }

  async write(upload: Upload, body: Readable, lock: UploadLock, limits: WriteLimits): Promise<WriteOutcome> {
    const stored = this.current(upload);
    if (stored.finishedAt !== null) throw new Error(`upload ${upload.id} is finished: nothing can be written to it`);
    const injected = this.takeInjectedFailure();
    const received: Buffer[] = [];
    let count = 0;
    let end: WriteStop = 'end';
    let stop: WriteStop | undefined;
    let failure: Error | undefined;
    const checksum = limits.checksum ? new BodyChecksum(limits.checksum) : undefined;
    for await (const chunk of readUntil(body, lock.signal, (why) => (end = why))) {
      if (lock.lost.aborted) throw lock.lost.reason;
      let data = chunk;
      if (injected && count + data.length >= injected.afterBytes) {
        data = data.subarray(0, injected.afterBytes - count);
        failure = injected.error ?? new StorageError('injected storage failure');
      }
      if (count + data.length > limits.maxBytes) {
        data = data.subarray(0, limits.maxBytes - count);
        stop = 'too-large';
      }
      checksum?.update(data);
      received.push(data);
      count += data.length;
      if (stop || failure) break;
    }
    if (injected && !failure && count >= injected.afterBytes)
      failure = injected.error ?? new StorageError('injected storage failure');
    if (checksum) {
      // As the real store: a body that matched counts, one cut short counts for nothing, a mismatch throws.
      if ((stop ?? end) === 'end' && !failure) checksum.verify();
      else return this.commit(stored, [], lock, stop ?? end, failure, limits.beforeFinish);
    }
    return this.commit(stored, received, lock, stop ?? end, failure, limits.beforeFinish);
  }

  async declareLength(upload: Upload, size: number, lock: UploadLock, beforeFinish?: BeforeFinish): Promise<Upload> {
    const stored = this.current(upload);
    if (stored.size !== null) throw new Error(`upload ${upload.id} has a length already`);
    if (size < stored.offset) throw new Error(`upload ${upload.id} holds ${stored.offset} bytes, more than ${size}`);
    lock.assertHeld();
    stored.size = size;
    if (stored.offset === size) {
      await beforeFinish?.(this.viewOf(stored));
      stored.finishedAt = this.clock.now().toISOString();
    }
    return this.viewOf(stored);
  }

  async terminate(upload: Upload, lock: UploadLock): Promise<void> {
    this.current(upload);
    lock.assertHeld();
    // Copies made by copyFinished stay, as they do in another bucket.
    this.uploads.delete(upload.id);
  }

  async read(upload: Upload, range?: ByteRange): Promise<UploadContent> {
    const stored = this.uploads.get(upload.id);
    // The finished bytes exist only once the upload finished (the real store's final object): until then, 404.
    if (!stored || stored.finishedAt === null) throw new UploadNotFoundError(upload.id);
    const all = Buffer.concat(stored.chunks);
    const bytes = range ? all.subarray(range.start, range.end + 1) : all;
    return { body: Readable.from([bytes], { objectMode: false }), contentLength: bytes.length };
  }

  async concatenate(
    final: Upload,
    partials: readonly Upload[],
    lock: UploadLock,
    beforeFinish?: BeforeFinish,
  ): Promise<WriteOutcome> {
    const stored = this.current(final);
    if (stored.offset !== 0 || stored.finishedAt !== null) throw new Error(`upload ${final.id} is not an empty upload`);
    const bytes = partials.map((partial) => {
      const source = this.uploads.get(partial.id);
      if (!source || source.finishedAt === null) throw new UploadNotFoundError(partial.id);
      return Buffer.concat(source.chunks);
    });
    let data = Buffer.concat(bytes);
    let stop: WriteStop = 'end';
    let failure: Error | undefined;
    const injected = this.takeInjectedFailure();
    if (injected && data.length >= injected.afterBytes) {
      data = data.subarray(0, injected.afterBytes);
      failure = injected.error ?? new StorageError('injected storage failure');
    }
    if (stored.size !== null && data.length > stored.size) {
      data = data.subarray(0, stored.size);
      stop = 'too-large';
    }
    return this.commit(stored, [data], lock, stop, failure, beforeFinish);
  }

  async copyFinished(upload: Upload): Promise<ObjectLocation | undefined> {
    const target = this.options.copyOnFinish;
    if (!target) return undefined;
    const stored = this.uploads.get(upload.id);
    if (!stored || stored.finishedAt === null) throw new UploadNotFoundError(upload.id);
    const location = { bucket: target.bucket, key: `${target.prefix ?? ''}${upload.id}` };
    this.copies.set(`${location.bucket}/${location.key}`, Buffer.concat(stored.chunks));
    return location;
  }

  // For tests: look inside without the protocol.

  /** Whether an upload with this id exists. */
  has(id: string): boolean {
    return this.uploads.has(id);
  }

  /** The ids of every upload, in creation order. */
  ids(): string[] {
    return [...this.uploads.keys()];
  }

  /** The bytes stored so far. @throws UploadNotFoundError */
  bytesOf(id: string): Buffer {
    return Buffer.concat(this.stored(id).chunks);
  }

  /** The copy `copyFinished` made at `location`, if any. */
  copyAt(location: ObjectLocation): Buffer | undefined {
    return this.copies.get(`${location.bucket}/${location.key}`);
  }

  /** Forgets every upload and copy, and any injected failure. */
  clear(): void {
    this.uploads.clear();
    this.copies.clear();
    this.injectedFailure = undefined;
  }

  /**
   * Makes the next `write` or `concatenate` fail as a storage failure part-way would: the first `afterBytes` bytes
   * are kept, the outcome carries the error.
   */
  failNextWrite(failure: InjectedWriteFailure): void {
    this.injectedFailure = failure;
  }

  private async commit(
    stored: StoredUpload,
    received: Buffer[],
    lock: UploadLock,
    stop: WriteStop,
    failure?: Error,
    beforeFinish?: BeforeFinish,
  ): Promise<WriteOutcome> {
    const bytes = Buffer.concat(received);
    if (bytes.length > 0) {
      // Nothing is committed by a caller that lost the lock (or released it).
      lock.assertHeld();
      stored.chunks.push(bytes);
      stored.offset += bytes.length;
    }
    if (!failure && stored.size !== null && stored.offset === stored.size && stored.finishedAt === null) {
      lock.assertHeld();
      // Every byte is stored: the app's last word comes before the upload counts as finished.
      await beforeFinish?.(this.viewOf(stored));
      stored.finishedAt = this.clock.now().toISOString();
    }
    return { upload: this.viewOf(stored), stop, ...(failure ? { failure } : {}) };
  }

  private takeInjectedFailure(): InjectedWriteFailure | undefined {
    const injected = this.injectedFailure;
    this.injectedFailure = undefined;
    return injected;
  }

  private stored(id: string): StoredUpload {
    const stored = isValidUploadId(id) ? this.uploads.get(id) : undefined;
    if (!stored) throw new UploadNotFoundError(id);
    return stored;
  }

  /** The stored upload behind a view this store issued, which must still describe it (no stale offset or length). */
  private current(upload: Upload): StoredUpload {
    if (!this.issued.has(upload)) {
      throw new Error(`upload ${upload.id} was not read from this store: pass what get() or create() returned`);
    }
    const stored = this.stored(upload.id);
    if (stored.offset !== upload.offset || stored.size !== upload.size || stored.finishedAt !== upload.finishedAt) {
      throw new Error(`upload ${upload.id} changed since this view was read: get() it again under its lock`);
    }
    return stored;
  }

  private viewOf(stored: StoredUpload): Upload {
    const { id, size, offset, metadata, metadataHeader, createdAt, finishedAt, expiresAt, concat, sizeLimit } = stored;
    const upload = publicUpload({
      ...{ id, size, offset, metadata, metadataHeader, createdAt, finishedAt, expiresAt, concat, sizeLimit },
      location: { bucket: this.bucket, key: `${this.objectPrefix}${id}` },
    });
    this.issued.add(upload);
    return upload;
  }
}
