import type { Readable } from 'node:stream';
import type { UploadLock } from '../locker/locker.interface';
import type { ExpectedChecksum } from '../protocol/checksum';
import type { UploadMetadata } from '../protocol/metadata';

/** Where a store keeps an upload's finished bytes, as that store names it (for S3: a bucket and a key). */
export interface ObjectLocation {
  readonly bucket: string;
  readonly key: string;
}

/** The concatenation extension's view of an upload: a `partial` one, or a `final` one assembled from partials. */
export type UploadConcat =
  | { readonly kind: 'partial' }
  | {
      readonly kind: 'final';
      readonly uploadIds: readonly string[];
      /** Upload-Concat as the client sent it: HEAD echoes it. */
      readonly header: string;
    };

/**
 * An upload as everything outside the store sees it: handlers, hooks, event listeners. It says what a tus client
 * can learn about the upload and where its bytes end up, and nothing of how the store keeps them.
 */
export interface Upload {
  readonly id: string;
  /** null while the length is deferred (Upload-Defer-Length: 1). */
  readonly size: number | null;
  /** Bytes stored so far. */
  readonly offset: number;
  /** Decoded Upload-Metadata (values as UTF-8 text, or null for a key without value). */
  readonly metadata: UploadMetadata;
  /** Upload-Metadata exactly as the client sent it: HEAD echoes it unchanged. */
  readonly metadataHeader: string;
  /** ISO 8601. */
  readonly createdAt: string;
  /** ISO 8601, once every byte is stored and the final object exists; null before. */
  readonly finishedAt: string | null;
  /**
   * ISO 8601: when this unfinished upload expires (the expiration extension; fixed at its creation). null when it is
   * finished or never expires.
   */
  readonly expiresAt: string | null;
  readonly concat?: UploadConcat;
  /** The largest size this upload may reach, when its creation set one below the module's `maxSize`. */
  readonly sizeLimit?: number;
  /** Where the finished bytes are (or will be). */
  readonly location: ObjectLocation;
}

export interface NewUpload {
  /** The id to create the upload under (it must not exist yet); by default the store makes one. */
  id?: string;
  size: number | null;
  metadataHeader: string;
  metadata: UploadMetadata;
  concat?: UploadConcat;
  /** A size limit below the module's `maxSize` for this upload (kept for a deferred length declared later). */
  sizeLimit?: number;
}

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

export interface UploadContent {
  body: Readable;
  contentLength: number;
}

/**
 * Why a write ended: the body ended, the client went away, the lock holder was asked to let go (`stopped`), or the
 * body went past the bytes allowed (`too-large`).
 */
export type WriteStop = 'end' | 'client-aborted' | 'stopped' | 'too-large';

/**
 * The app's last word before an upload counts as finished (every byte stored, the final object not assembled yet).
 * What it throws is thrown on by the store call; the upload then stays unfinished, all its bytes stored.
 */
export type BeforeFinish = (upload: Upload) => Promise<void>;

export interface WriteLimits {
  /** The most bytes this write may store; more is cut off and reported as `too-large`. */
  maxBytes: number;
  /** The body's Content-Length, when known. */
  expectedBytes?: number;
  /**
   * Upload-Checksum (the checksum extension): the body counts only if all of it arrived and matches; a mismatch
   * throws ChecksumMismatchError with nothing of the body kept, a body cut short keeps nothing either.
   */
  checksum?: ExpectedChecksum;
  beforeFinish?: BeforeFinish;
  /**
   * The body's chunks are this write's alone (a request body as Node's HTTP parser hands it over): the store may
   * free each one as soon as it has copied it, rather than leave it to the garbage collector. Leave it unset for a
   * body whose buffers are still used elsewhere. A chunk a 'data' listener on the body saw is never freed.
   */
  releaseChunks?: boolean;
}

export interface WriteOutcome {
  /** The upload after the write: what is safely stored, also when the write failed part-way. */
  upload: Upload;
  stop: WriteStop;
  /** Present when storage failed part-way; `upload` then holds what is safely stored. */
  failure?: Error;
}

/** Takes a new upload's lock for its creation (see `TusDataStore.create`), or gives null. */
export type CreationLock = (uploadId: string) => Promise<UploadLock | null>;

/**
 * The tus data store: everything the protocol needs of a storage backend. Methods that change an upload expect the
 * caller to hold its lock, and pass it in: the store checks it before every write that commits state, so nothing
 * is committed by a caller that lost it. `S3Store` is the implementation; a test or another backend can provide
 * its own under `TUS_STORE`.
 */
export interface TusDataStore {
  /**
   * Creates an upload; an upload of size 0 is finished at once.
   * @param lockFor asked for the upload's lock once its id is known, before anything of it is stored; the lock it
   *   gives (the caller's to release) guards the creation, so that a request made under it may trust what the
   *   creation wrote without reading it back. Null: create without one.
   * @throws UploadExistsError when `upload.id` is given and taken
   */
  create(upload: NewUpload, lockFor?: CreationLock): Promise<Upload>;
  /**
   * The upload's current state.
   * @param lock the upload's lock when the caller holds it (a store may then trust caches only a holder can keep)
   * @throws UploadNotFoundError
   */
  get(id: string, lock?: UploadLock): Promise<Upload>;
  /**
   * Appends a body at the upload's offset (the caller checked it) and saves what arrived, also when the body stopped
   * early. Finishes the upload when its last byte arrived.
   */
  write(upload: Upload, body: Readable, lock: UploadLock, limits: WriteLimits): Promise<WriteOutcome>;
  /** Sets a deferred length (once); finishes the upload when every byte is there already. */
  declareLength(upload: Upload, size: number, lock: UploadLock, beforeFinish?: BeforeFinish): Promise<Upload>;
  /** Removes every trace of the upload, its finished bytes included. */
  terminate(upload: Upload, lock: UploadLock): Promise<void>;
  /** Streams a finished upload, or a byte range of it. */
  read(upload: Upload, range?: ByteRange): Promise<UploadContent>;
}

/** The concatenation extension: a final upload filled from finished partial uploads. */
export interface ConcatenationCapable {
  /** Fills `final` (just created, empty) with the partials' bytes in order; the caller holds every lock. */
  concatenate(
    final: Upload,
    partials: readonly Upload[],
    lock: UploadLock,
    beforeFinish?: BeforeFinish,
  ): Promise<WriteOutcome>;
}

/** A store that can copy a finished upload elsewhere (`copyOnFinish`). */
export interface FinishedCopyCapable {
  /**
   * Copies a finished upload to its destination (the one recorded when it finished, else the configured one), any
   * size; undefined when none is configured. Copying again writes the same bytes to the same place.
   */
  copyFinished(upload: Upload): Promise<ObjectLocation | undefined>;
}

/** A finished upload's `upload.finished` (and copy) not delivered yet, as {@link AnnouncementCapable} records it. */
export interface DueAnnouncement {
  /** 1 for the delivery right after finishing; more for each takeover of an overdue one. */
  readonly attempt: number;
  /** ISO 8601: when the current attempt began. */
  readonly claimedAt: string;
  /** Where `copyOnFinish` copies the upload, when configured; `copied` once that copy exists. */
  readonly copy?: ObjectLocation;
  readonly copied: boolean;
}

/**
 * A store that records, with the finish itself, that a copy and `upload.finished` are owed, so that they survive a
 * crash: whoever reads an overdue one can claim it and deliver it again. Changes expect the caller to hold the lock.
 */
export interface AnnouncementCapable {
  /** The upload's announcement when still due; undefined once delivered (or for an upload that is not finished). */
  dueAnnouncement(upload: Upload): DueAnnouncement | undefined;
  /** Starts a new attempt at a due announcement: counts it and records its start. */
  claimAnnouncement(upload: Upload, lock: UploadLock): Promise<Upload>;
  /** Moves the current attempt's start to now (a long copy still running): no takeover while it is fresh. */
  renewAnnouncementClaim(upload: Upload, lock: UploadLock): Promise<Upload>;
  /** Records that the copy exists. */
  markCopied(upload: Upload, lock: UploadLock): Promise<Upload>;
  /** Records that `upload.finished` was delivered. */
  markAnnounced(upload: Upload, lock: UploadLock): Promise<Upload>;
}

export function supportsAnnouncements(store: TusDataStore): store is TusDataStore & AnnouncementCapable {
  return typeof (store as Partial<AnnouncementCapable>).dueAnnouncement === 'function';
}

export function supportsConcatenation(store: TusDataStore): store is TusDataStore & ConcatenationCapable {
  return typeof (store as Partial<ConcatenationCapable>).concatenate === 'function';
}

export function supportsFinishedCopy(store: TusDataStore): store is TusDataStore & FinishedCopyCapable {
  return typeof (store as Partial<FinishedCopyCapable>).copyFinished === 'function';
}

export function isFinished(upload: Pick<Upload, 'finishedAt'>): boolean {
  return upload.finishedAt !== null;
}

/** What a store knows of an upload, for {@link publicUpload}. */
export interface UploadFields {
  id: string;
  size: number | null;
  offset: number;
  metadata: UploadMetadata;
  metadataHeader: string;
  createdAt: string;
  finishedAt: string | null;
  expiresAt?: string;
  concat?: UploadConcat;
  sizeLimit?: number;
  location: ObjectLocation;
}

/** The frozen public view of an upload, as every store hands it out (a finished upload never expires). */
export function publicUpload(fields: UploadFields): Upload {
  const { concat, sizeLimit, expiresAt, location, ...always } = fields;
  return Object.freeze({
    ...always,
    expiresAt: fields.finishedAt === null ? (expiresAt ?? null) : null,
    ...(concat ? { concat } : {}),
    ...(sizeLimit !== undefined ? { sizeLimit } : {}),
    location: Object.freeze({ ...location }),
  });
}
