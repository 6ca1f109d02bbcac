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
 * How large, about, the last part of an upload should be when its other parts go to S3 in the background while the
 * client sends (`holdBackIn: 'redis'`): the request that brings the last byte uploads the last part before it can
 * answer, so the less it holds, the sooner the upload is finished; the parts before it upload meanwhile. Three fifths
 * of the minimum part size: 3 MiB with S3's 5 MiB (and the parts before it stay above the minimum).
 */
export function shortLastPartOf(minPartSize: number): number {
  return Math.floor((minPartSize * 3) / 5);
}

/**
 * A part size for an upload of `uploadSize` bytes that leaves it a short last part (`lastPart` bytes, plus less than
 * a byte per part) instead of up to a full one: as many parts as `partSize` would make, each a little smaller, then
 * the short one. 64 MiB in 8 MiB parts becomes 8 parts of 7.625 MiB and one of 3 MiB. The part size is recorded in the
 * upload's journal and every instance cuts parts by it, so instances of earlier versions cut the same parts.
 * `partSize` stays when the last part is short already, when the upload is one part, or when the smaller parts would
 * fall below the minimum or the one part more go past the maximum count.
 */
export function withShortLastPart(
  partSize: number,
  uploadSize: number,
  sizing: Pick<PartSizing, 'minPartSize' | 'maxMultipartParts'>,
  lastPart = shortLastPartOf(sizing.minPartSize),
): number {
  const parts = Math.ceil(uploadSize / partSize);
  const last = uploadSize - (parts - 1) * partSize;
  if (parts < 2 || last <= lastPart || parts + 1 > sizing.maxMultipartParts) return partSize;
  const smaller = Math.floor((uploadSize - lastPart) / parts);
  return smaller >= sizing.minPartSize && smaller > lastPart + parts ? smaller : partSize;
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
