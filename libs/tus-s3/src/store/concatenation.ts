import { Readable } from 'node:stream';
import type { UploadLock } from '../locker/locker.interface';
import type { ResolvedTusS3Options } from '../tus-s3.options';
import { ObjectKeys } from './object-keys';
import { S3Objects } from './s3-objects';
import type { UploadedPart, UploadInfo } from './upload-info';

/** Partial uploads copied into a final one at once. */
const COPY_CONCURRENCY = 4;

/**
 * The concatenation extension on S3: a final upload is filled from finished partial uploads, in order. When every
 * partial can be a part of its own (at least the part minimum, except the last, and at most the part maximum), S3
 * copies them server-side (UploadPartCopy) and no byte passes through this server; otherwise their bytes are
 * streamed through the ordinary write path.
 */
export class Concatenation {
  constructor(
    private readonly objects: S3Objects,
    private readonly keys: ObjectKeys,
    private readonly limits: Pick<ResolvedTusS3Options, 'minPartSize' | 'maxPartSize' | 'maxMultipartParts'>,
  ) {}

  /** Whether each partial can become one part of `final` by UploadPartCopy. */
  canCopy(final: UploadInfo, partials: readonly UploadInfo[]): boolean {
    const sizes = partials.map((p) => p.size ?? 0);
    const { minPartSize, maxPartSize, maxMultipartParts } = this.limits;
    return (
      final.multipartUploadId !== null &&
      partials.length <= maxMultipartParts &&
      sizes.every((size, i) => size > 0 && size <= maxPartSize && (size >= minPartSize || i === sizes.length - 1))
    );
  }

  /** Copies partial n into part n of `final`, a few at once. */
  async copyParts(final: UploadInfo, partials: readonly UploadInfo[], lock: UploadLock): Promise<UploadedPart[]> {
    const parts: UploadedPart[] = [];
    for (let i = 0; i < partials.length; i += COPY_CONCURRENCY) {
      const batch = partials.slice(i, i + COPY_CONCURRENCY);
      parts.push(...(await Promise.all(batch.map((partial, j) => this.copyPart(final, partial, i + j + 1, lock)))));
    }
    return parts;
  }

  /** The bytes of the partials, one after the other: the body that fills `final` when they cannot be copied. */
  body(partials: readonly UploadInfo[]): Readable {
    const read = (info: UploadInfo) => this.objects.read(this.keys.final(info.id), undefined, info.size ?? 0);
    async function* bytes(): AsyncGenerator<Buffer> {
      for (const info of partials) yield* (await read(info)).body;
    }
    return Readable.from(bytes(), { objectMode: false });
  }

  private async copyPart(
    final: UploadInfo,
    partial: UploadInfo,
    partNumber: number,
    lock: UploadLock,
  ): Promise<UploadedPart> {
    lock.assertHeld();
    const etag = await this.objects.copyPart(
      this.keys.final(final.id),
      final.multipartUploadId!,
      partNumber,
      this.keys.final(partial.id),
      `copy upload ${partial.id} into upload ${final.id}`,
      lock.lost,
    );
    return { partNumber, size: partial.size ?? 0, etag };
  }
}
