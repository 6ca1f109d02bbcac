import { UploadMetadata } from '../protocol/metadata';
import type { HeldIn, HeldKey } from './held-bytes/held-bytes';
import type { UploadConcat } from './tus-data-store';

export interface UploadedPart {
  readonly partNumber: number;
  readonly size: number;
  readonly etag: string;
}

/**
 * An upload's journal as the store works with it: the parts uploaded and the held-back bytes after them are the
 * upload's bytes, in order, so the offset is derived from it alone and no ListParts call is needed. Bytes that
 * reached S3 but not the journal (a crash between the two) are simply sent again by the client and overwrite the
 * same part number. It is kept in `<prefix><id>.info` as a {@link StoredJournal}.
 */
export interface UploadInfo {
  readonly id: string;
  /** null while the length is deferred (Upload-Defer-Length: 1). */
  readonly size: number | null;
  /** Upload-Metadata exactly as the client sent it: HEAD must echo it unchanged. */
  readonly metadataHeader: string;
  readonly metadata: UploadMetadata;
  readonly createdAt: string;
  /**
   * null when no multipart upload was needed (a zero-length upload, or one stored whole: see {@link isStoredWhole}) or
   * it was completed.
   */
  readonly multipartUploadId: string | null;
  readonly partSize: number;
  readonly parts: readonly UploadedPart[];
  /** Where bytes held back between PATCHes live (see held-bytes/): fixed at creation. */
  readonly heldIn: HeldIn;
  /** The held-back bytes after the parts, in order. */
  readonly pending: readonly HeldKey[];
  /**
   * With `heldIn: 'redis'`: the offset where the Redis run of held bytes starts, as the journal in S3 says. Parts
   * uploaded from the run in the background may already cover its beginning; the run is restarted at the parts' end
   * from time to time.
   */
  readonly heldBase?: number;
  /** Set once the final object exists. */
  readonly finishedAt: string | null;
  /** When the upload expires unless finished (the expiration extension), fixed at creation; absent: never. */
  readonly expiresAt?: string;
  /**
   * The concatenation extension: a `partial` upload is meant to be joined into a final one; a `final` upload was
   * assembled from the partial uploads `uploadIds` (in order) and `header` is Upload-Concat as the client sent it,
   * which HEAD echoes.
   */
  readonly concat?: UploadConcat;
  /** A size limit below the module's maxSize, set at creation by the app's hook. */
  readonly sizeLimit?: number;
  /**
   * What finishing owes: the `copyOnFinish` copy and the `upload.finished` event. Written in the same save that sets
   * `finishedAt`; absent on uploads finished before this field existed (nothing is replayed for them).
   */
  readonly announce?: AnnounceRecord;
}

/** The delivery of a finished upload's copy and `upload.finished`, as the journal records it. */
export interface AnnounceRecord {
  /** true until `upload.finished` was emitted and its listeners ran. */
  readonly due: boolean;
  /** Attempts so far: 1 is the instance that finished the upload; each takeover of an overdue one adds one. */
  readonly attempt: number;
  /** When the current attempt began (the finish, or the takeover); a takeover waits until it is old enough. */
  readonly claimedAt: string;
  /** Where `copyOnFinish` copies the upload (fixed when it finished); `done` once the copy exists. */
  readonly copy?: { readonly bucket: string; readonly key: string; readonly done?: true };
}

/** A held-back chunk object as `.info` lists it. */
export interface StoredChunk {
  readonly key: string;
  readonly size: number;
  /**
   * The chunk was put together with this very journal, so it may be missing: its PUT failed, or the process died
   * first (its write was then never acknowledged). Whoever reads the journal from S3 checks that it exists.
   */
  readonly unconfirmed?: true;
}

/**
 * What `<prefix><id>.info` holds (version 1). Uploads in flight must survive an upgrade: this format only ever
 * gains optional fields. `heldIn` is absent for chunk objects in S3 (listed in `pending`) and `redis` for a run of
 * bytes in Redis after the parts, which starts at `heldBase` (absent: at the parts' end); `pending` is then empty and
 * the held bytes are read from Redis.
 */
export interface StoredJournal extends Omit<UploadInfo, 'heldIn' | 'pending'> {
  readonly version: 1;
  readonly heldIn?: 'redis';
  readonly pending: readonly StoredChunk[];
}

/** The journal from its stored form; `pending` is what the upload's held-bytes strategy found. */
export function fromStored(stored: StoredJournal, pending: readonly HeldKey[]): UploadInfo {
  const { version: _version, heldIn, pending: _stored, ...journal } = stored;
  return { ...journal, heldIn: heldIn ?? 's3', pending };
}

/** The stored form of a journal; `pending` is what its held-bytes strategy lists there. */
export function toStored(info: UploadInfo, pending: readonly StoredChunk[]): StoredJournal {
  const { heldIn, pending: _held, ...journal } = info;
  return { version: 1, ...journal, pending, ...(heldIn === 'redis' ? { heldIn } : {}) };
}

/** Where the parts end: the offset of the first held-back byte. */
export function partsEnd(info: Pick<UploadInfo, 'parts'>): number {
  let offset = 0;
  for (const part of info.parts) offset += part.size;
  return offset;
}

/** Bytes held back in `pending`. */
export function heldSize(pending: readonly HeldKey[]): number {
  let size = 0;
  for (const key of pending) size += key.size;
  return size;
}

export function offsetOf(info: Pick<UploadInfo, 'parts' | 'pending'>): number {
  return partsEnd(info) + heldSize(info.pending);
}

/**
 * An upload of known length that fits in one part (and is not part of a concatenation) has no multipart upload: the
 * request that brings its last byte stores it with one PutObject of the final object, recorded as its one part.
 * Two S3 requests fewer per upload (CreateMultipartUpload, CompleteMultipartUpload), and one round trip off its POST.
 */
export function isStoredWhole(info: Pick<UploadInfo, 'multipartUploadId' | 'finishedAt' | 'size'>): boolean {
  return info.multipartUploadId === null && info.finishedAt === null && (info.size ?? 0) > 0;
}

/**
 * Whether a body of `bytes` (its Content-Length; undefined when unknown) written at the upload's offset brings the
 * upload to its end.
 */
export function completesUpload(info: UploadInfo, bytes: number | undefined): boolean {
  return info.size !== null && bytes !== undefined && offsetOf(info) + bytes >= info.size;
}

/**
 * Whether an upload of this length, so created, is stored whole (see {@link isStoredWhole}): known, and no larger than
 * `upTo` (the `storeWholeUpTo` option).
 */
export function isSmallEnoughToStoreWhole(size: number | null, upTo: number, concat: boolean): boolean {
  return size !== null && size > 0 && size <= upTo && !concat;
}
