import { UploadMetadata } from '../protocol/metadata';
import type { UploadConcat } from './tus-data-store';

export interface UploadedPart {
  readonly partNumber: number;
  readonly size: number;
  readonly etag: string;
}

/** Bytes received but not yet in a part (less than a part): an object of their own until the next part is cut. */
export interface PendingChunk {
  readonly key: string;
  readonly size: number;
  /** Bytes at the start of the stored value that are already in parts (Redis runs only). */
  readonly skip?: number;
}

/**
 * What `<prefix><id>.info` holds. It is the upload's journal: the parts and held-back chunks it lists are the
 * upload's bytes, in order, so the offset is derived from it alone and no ListParts call is needed. Bytes that
 * reached S3 but not this journal (a crash between the two) are simply sent again by the client and overwrite
 * the same part number.
 */
export interface UploadInfo {
  readonly version: 1;
  readonly id: string;
  /** null while the length is deferred (Upload-Defer-Length: 1). */
  readonly size: number | null;
  /** Upload-Metadata exactly as the client sent it: HEAD must echo it unchanged. */
  readonly metadataHeader: string;
  readonly metadata: UploadMetadata;
  readonly createdAt: string;
  /** null when no multipart upload was needed (a zero-length upload) or it was completed. */
  readonly multipartUploadId: string | null;
  readonly partSize: number;
  readonly parts: readonly UploadedPart[];
  readonly pending: readonly PendingChunk[];
  /** Set once the final object exists. */
  readonly finishedAt: string | null;
  /**
   * Where bytes held back between PATCHes live: absent for S3 chunk objects (listed in `pending`), `redis` for one
   * run of bytes in Redis after the parts (then `pending` is not stored but read from Redis). Fixed at creation.
   */
  readonly heldIn?: 'redis';
  /**
   * With `heldIn: 'redis'`: the offset where the Redis run of held bytes starts. Parts uploaded from the run in the
   * background may already cover its beginning; the run is restarted at the parts' end from time to time.
   */
  readonly heldBase?: number;
  /**
   * The concatenation extension: a `partial` upload is meant to be joined into a final one; a `final` upload was
   * assembled from the partial uploads `uploadIds` (in order) and `header` is Upload-Concat as the client sent it,
   * which HEAD echoes.
   */
  readonly concat?: UploadConcat;
  /** A size limit below the module's maxSize, set at creation by the app's hook. */
  readonly sizeLimit?: number;
}

export function offsetOf(info: Pick<UploadInfo, 'parts' | 'pending'>): number {
  let offset = 0;
  for (const part of info.parts) offset += part.size;
  for (const chunk of info.pending) offset += chunk.size;
  return offset;
}
