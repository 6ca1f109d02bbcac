import type { TargetName } from '../config';

/** One finished upload, as the client saw it. */
export interface UploadOutcome {
  /** Key of the final object in the bench bucket. */
  key: string;
  /** Per-request latencies (tus targets only): the creation POST and each PATCH, in ms. */
  postMs?: number;
  patchMs?: number[];
}

/** Something that stores `size` bytes of the payload as one S3 object. */
export interface Target {
  readonly name: TargetName;
  /** Work done once before the timed uploads of `size` bytes (building their bytes in memory, say). */
  prepare?(size: number): void;
  upload(size: number, patchSize: number): Promise<UploadOutcome>;
}
