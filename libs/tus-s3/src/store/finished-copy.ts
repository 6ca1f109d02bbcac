import type { ByteRange, ObjectLocation } from './tus-data-store';
import type { S3Objects } from './s3-objects';
import { Semaphore } from './semaphore';
import type { UploadedPart } from './upload-info';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** How `copyOnFinish` copies: one CopyObject up to `multipartAbove` bytes, above it a multipart copy. */
export interface FinishedCopyPlan {
  /** Objects larger than this are copied part by part (S3's CopyObject stops at 5 GiB). */
  multipartAbove: number;
  /** The preferred part size of a multipart copy; grown to fit `maxParts`. */
  partSize: number;
  maxParts: number;
  /** UploadPartCopy requests at once. */
  concurrency: number;
}

export const DEFAULT_FINISHED_COPY: FinishedCopyPlan = {
  multipartAbove: 5 * GiB,
  partSize: 512 * MiB,
  maxParts: 10_000,
  concurrency: 4,
};

/** The byte ranges of a multipart copy of `size` bytes: `max(partSize, ceil(size / maxParts))` each, the last shorter. */
export function copyRanges(size: number, plan: Pick<FinishedCopyPlan, 'partSize' | 'maxParts'>): ByteRange[] {
  const partSize = Math.max(plan.partSize, Math.ceil(size / plan.maxParts));
  const ranges: ByteRange[] = [];
  for (let start = 0; start < size; start += partSize)
    ranges.push({ start, end: Math.min(start + partSize, size) - 1 });
  return ranges;
}

/**
 * Copies a finished object to another bucket server-side: one CopyObject when small enough, else a multipart upload
 * filled by parallel UploadPartCopy of byte ranges and completed; a failed part aborts the whole multipart copy.
 */
export async function copyFinishedObject(
  objects: S3Objects,
  sourceKey: string,
  size: number,
  to: ObjectLocation,
  plan: FinishedCopyPlan,
): Promise<void> {
  if (size <= plan.multipartAbove) return objects.copyObject(sourceKey, to);
  const uploadId = await objects.createCopyUpload(sourceKey, to);
  const failed = new AbortController();
  const slots = new Semaphore(plan.concurrency);
  const copied = await Promise.allSettled(
    copyRanges(size, plan).map(async (range, index) => {
      await slots.acquire();
      try {
        failed.signal.throwIfAborted();
        const etag = await objects.copyRange(to, uploadId, index + 1, sourceKey, range, failed.signal);
        return { partNumber: index + 1, size: range.end - range.start + 1, etag };
      } catch (error) {
        if (!failed.signal.aborted) failed.abort(error);
        throw error;
      } finally {
        slots.release();
      }
    }),
  );
  try {
    // Every request has settled: an abort now leaves no part copy running that would outlive it.
    if (failed.signal.aborted) throw failed.signal.reason;
    const parts = copied.map((part) => (part as PromiseFulfilledResult<UploadedPart>).value);
    await objects.completeMultipartUpload(to.key, uploadId, parts, to.bucket);
  } catch (error) {
    await objects.abortMultipartUpload(to.key, uploadId, 'abort the multipart copy', to.bucket).catch(() => undefined);
    throw error;
  }
}
