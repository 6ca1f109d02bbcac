/** S3's multipart limits (AWS; most compatible servers copy them). */
export const S3_LIMITS = {
  minPartSize: 5 * 1024 * 1024,
  maxPartSize: 5 * 1024 * 1024 * 1024,
  maxMultipartParts: 10_000,
  maxObjectSize: 5 * 1024 * 1024 * 1024 * 1024,
} as const;

export interface PartSizing {
  /** Smallest part S3 accepts (except the last). */
  minPartSize: number;
  /** The size parts are cut at, unless the upload is so big that more parts would be needed than allowed. */
  preferredPartSize: number;
  maxPartSize: number;
  maxMultipartParts: number;
  maxObjectSize: number;
}

/**
 * The part size for an upload: the preferred size, grown just enough that `maxMultipartParts` parts hold the
 * whole upload. For a deferred length we must assume the largest upload we accept.
 */
export function choosePartSize(sizing: PartSizing, uploadSize: number | null, maxUploadSize: number): number {
  const planFor = uploadSize ?? maxUploadSize;
  const needed = Math.ceil(planFor / sizing.maxMultipartParts);
  const size = Math.max(sizing.preferredPartSize, needed);
  if (size > sizing.maxPartSize) {
    throw new RangeError(
      `an upload of ${planFor} bytes needs parts of ${size} bytes, above maxPartSize ${sizing.maxPartSize}`,
    );
  }
  return size;
}

/**
 * Whether `bytes` (less than a full part, at least the minimum) may be sent as a part of its own now, rather than
 * held back until a full part has gathered. Smaller parts cost part numbers; we allow one only while the parts
 * left still hold the rest of the largest possible upload at the planned part size.
 */
export function mayUploadShortPart(args: {
  bytes: number;
  partsUsed: number;
  offsetAfter: number;
  uploadLimit: number;
  partSize: number;
  minPartSize: number;
  maxMultipartParts: number;
  equalParts: boolean;
}): boolean {
  if (args.bytes < args.minPartSize || args.equalParts) return false;
  const partsStillNeeded = Math.ceil(Math.max(0, args.uploadLimit - args.offsetAfter) / args.partSize);
  return args.partsUsed + 1 + partsStillNeeded <= args.maxMultipartParts;
}
