import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  DeleteObjectsCommandOutput,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectCommandInput,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Logger } from '@nestjs/common';
import { contentTypeOf } from '../protocol/content-type';
import { UploadMetadata } from '../protocol/metadata';
import { toS3Metadata } from './ascii-metadata';
import { isS3NotFound, isS3NotImplemented, StorageError } from './store-errors';
import { sendStreamWithRetries, STREAM_RETRIES, StreamRetryPolicy } from './stream-retries';
import type { ByteRange, UploadContent } from './tus-data-store';
import type { UploadedPart } from './upload-info';

/** The tag (URL-encoded, as PutObject's `Tagging` takes it) of objects of unfinished uploads, for S3 lifecycle rules. */
export const INCOMPLETE_TAG = 'tus-incomplete=true';

/**
 * The S3 requests the store makes, on one bucket. Calls a request answers with 503 when they fail are logged and
 * turn into a StorageError here (`what` says what failed); the few whose failures their callers judge (part and
 * chunk transfers, reads of the journal) come back as the SDK threw them.
 */
export class S3Objects {
  private readonly logger = new Logger('S3Store');
  /** Whether DeleteObjects is worth trying (until S3 says it does not implement it). */
  private multiDelete = true;

  /** @param tagIncomplete tag the objects of unfinished uploads (chunks, their `.info`) with {@link INCOMPLETE_TAG} */
  constructor(
    readonly client: S3Client,
    readonly bucket: string,
    private readonly tagIncomplete = false,
  ) {}

  /** Starts the multipart upload that becomes the object `key`; returns its UploadId. */
  async createMultipartUpload(key: string, metadata: UploadMetadata): Promise<string> {
    const created = await this.call('create the multipart upload', key, () =>
      this.client.send(
        new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ...finalObjectFields(metadata) }),
      ),
    );
    return created.UploadId!;
  }

  /**
   * Uploads a part from a stream we compose, opened by `body` for each attempt (see sendStreamWithRetries: the SDK
   * cannot retry a stream; a failing body aborts the request). Returns the ETag, when S3 sent one; failures come back
   * as thrown.
   */
  async uploadPart(
    key: string,
    uploadId: string,
    part: { partNumber: number; size: number; body: () => Readable },
    signal: AbortSignal | undefined,
    retries: StreamRetryPolicy = STREAM_RETRIES,
  ): Promise<string | undefined> {
    const output = await sendStreamWithRetries(
      part.body,
      signal,
      (body, abortSignal) =>
        this.client.send(
          new UploadPartCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: part.partNumber,
            ContentLength: part.size,
            Body: body,
          }),
          { abortSignal },
        ),
      retries,
    );
    return output.ETag;
  }

  /** Part `partNumber` of the multipart upload of `key`, copied server-side from the object `sourceKey`. */
  async copyPart(
    key: string,
    uploadId: string,
    partNumber: number,
    sourceKey: string,
    what: string,
    signal: AbortSignal,
  ): Promise<string> {
    const output = await this.call(what, key, () =>
      this.client.send(
        new UploadPartCopyCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: partNumber,
          CopySource: this.copySource(sourceKey),
        }),
        { abortSignal: signal },
      ),
    );
    return output.CopyPartResult!.ETag!;
  }

  async completeMultipartUpload(
    key: string,
    uploadId: string,
    parts: readonly UploadedPart[],
    bucket = this.bucket,
  ): Promise<void> {
    await this.call('complete the multipart upload', key, () =>
      this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
        }),
      ),
    );
  }

  /** Aborts a multipart upload; one that is gone already is fine. */
  async abortMultipartUpload(
    key: string,
    uploadId: string,
    what = 'abort the multipart upload',
    bucket = this.bucket,
  ): Promise<void> {
    await this.ignoreMissing(what, () =>
      this.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })),
    );
  }

  /**
   * The final object of an upload stored whole (see isStoredWhole), from a stream we compose, opened by `body` for
   * each attempt (see sendStreamWithRetries). Returns the ETag, when S3 sent one.
   */
  async putFinalObject(
    key: string,
    metadata: UploadMetadata,
    object: { size: number; body: () => Readable },
    signal: AbortSignal | undefined,
    retries: StreamRetryPolicy = STREAM_RETRIES,
  ): Promise<string | undefined> {
    return this.putStreamed(key, object.body, object.size, signal, finalObjectFields(metadata), retries);
  }

  /** The final object of an upload without bytes (S3 cannot complete a multipart upload without parts). */
  async putEmptyObject(key: string, metadata: UploadMetadata): Promise<void> {
    await this.call('store the empty upload', key, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: '',
          ContentLength: 0,
          ...finalObjectFields(metadata),
        }),
      ),
    );
  }

  /** @param incomplete the JSON belongs to an unfinished upload: tagged so when `tagIncomplete` is on */
  async putJson(key: string, body: string, what: string, incomplete = false): Promise<void> {
    const Tagging = incomplete && this.tagIncomplete ? INCOMPLETE_TAG : undefined;
    await this.call(what, key, () =>
      this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: 'application/json', Tagging }),
      ),
    );
  }

  /**
   * Stores a stream we compose, opened by `open` for each attempt (see sendStreamWithRetries): a held-back chunk
   * (tagged incomplete). Failures come back as thrown.
   */
  async putStream(
    key: string,
    open: () => Readable,
    size: number,
    signal: AbortSignal | undefined,
    retries: StreamRetryPolicy = STREAM_RETRIES,
  ): Promise<void> {
    const fields = { Tagging: this.tagIncomplete ? INCOMPLETE_TAG : undefined };
    await this.putStreamed(key, open, size, signal, fields, retries);
  }

  /** A PutObject of a stream we compose (see sendStreamWithRetries), with `fields`; returns the ETag S3 sent. */
  private async putStreamed(
    key: string,
    open: () => Readable,
    size: number,
    signal: AbortSignal | undefined,
    fields: Pick<PutObjectCommandInput, 'ContentType' | 'Metadata' | 'Tagging'>,
    retries: StreamRetryPolicy = STREAM_RETRIES,
  ): Promise<string | undefined> {
    const output = await sendStreamWithRetries(
      open,
      signal,
      (body, abortSignal) =>
        this.client.send(
          new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentLength: size, ...fields }),
          { abortSignal },
        ),
      retries,
    );
    return output.ETag;
  }

  /** The object's bytes, as a stream; failures (a missing object too) come back as thrown. */
  async getStream(key: string, signal?: AbortSignal): Promise<Readable> {
    const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
      abortSignal: signal,
    });
    return object.Body as Readable;
  }

  /** The object's bytes as text; failures (a missing object too) come back as thrown. */
  async getText(key: string): Promise<string> {
    const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    return object.Body!.transformToString('utf8');
  }

  /** An object, or a byte range of it, to answer a download. `fallbackLength` when S3 does not say. */
  async read(key: string, range: ByteRange | undefined, fallbackLength: number): Promise<UploadContent> {
    const output = await this.call('read the upload', key, () =>
      this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
      ),
    );
    return {
      body: output.Body as Readable,
      contentLength: output.ContentLength ?? (range ? range.end - range.start + 1 : fallbackLength),
    };
  }

  /** Server-side copy of `sourceKey` to another bucket (a single CopyObject: up to 5 GiB). */
  async copyObject(sourceKey: string, to: { bucket: string; key: string }): Promise<void> {
    await this.call(`copy the upload to ${to.bucket}`, sourceKey, () =>
      this.client.send(
        new CopyObjectCommand({ Bucket: to.bucket, Key: to.key, CopySource: this.copySource(sourceKey) }),
      ),
    );
  }

  /** Starts a multipart copy of `sourceKey` to `to`, with the source's content type and metadata; returns its UploadId. */
  async createCopyUpload(sourceKey: string, to: { bucket: string; key: string }): Promise<string> {
    const source = await this.call('read the upload to copy', sourceKey, () =>
      this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: sourceKey })),
    );
    const created = await this.call(`start the multipart copy to ${to.bucket}`, sourceKey, () =>
      this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: to.bucket,
          Key: to.key,
          ContentType: source.ContentType,
          Metadata: source.Metadata,
        }),
      ),
    );
    return created.UploadId!;
  }

  /** Part `partNumber` of a multipart copy to `to`: the bytes `range` of `sourceKey`, copied server-side. */
  async copyRange(
    to: { bucket: string; key: string },
    uploadId: string,
    partNumber: number,
    sourceKey: string,
    range: ByteRange,
    signal: AbortSignal,
  ): Promise<string> {
    const output = await this.call(`copy part ${partNumber} to ${to.bucket}`, sourceKey, () =>
      this.client.send(
        new UploadPartCopyCommand({
          Bucket: to.bucket,
          Key: to.key,
          UploadId: uploadId,
          PartNumber: partNumber,
          CopySource: this.copySource(sourceKey),
          CopySourceRange: `bytes=${range.start}-${range.end}`,
        }),
        { abortSignal: signal },
      ),
    );
    return output.CopyPartResult!.ETag!;
  }

  /** An object's size and ETag, or undefined when there is none. */
  async head(key: string): Promise<{ size: number; etag: string | undefined } | undefined> {
    try {
      const output = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: output.ContentLength ?? 0, etag: output.ETag };
    } catch (error) {
      if (isS3NotFound(error)) return undefined;
      throw new StorageError(`could not read the head of ${key}`, error);
    }
  }

  /** Whether an object exists. */
  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (error) {
      if (isS3NotFound(error)) return false;
      throw new StorageError(`could not check whether ${key} exists`, error);
    }
  }

  /** Deletes an object; one that is gone already is fine. */
  async delete(key: string): Promise<void> {
    await this.ignoreMissing(`delete ${key}`, () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })),
    );
  }

  /**
   * Deletes objects in one request per 1,000 (DeleteObjects), for the many small objects of one upload. Objects that
   * are gone already are fine; one S3 could not delete is logged and left to the sweeper (callers no longer refer
   * to them), so the caller's work, done already, does not fail for it. Services without DeleteObjects (it is
   * optional for S3-compatible ones) get one DeleteObject per key, from the first refusal on.
   */
  async deleteMany(keys: readonly string[]): Promise<void> {
    for (let start = 0; start < keys.length; start += 1000) {
      const batch = keys.slice(start, start + 1000);
      if (batch.length === 1 || !this.multiDelete) {
        await Promise.all(batch.map((key) => this.delete(key)));
        continue;
      }
      let answer: DeleteObjectsCommandOutput;
      try {
        answer = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
        );
      } catch (error) {
        if (!isS3NotImplemented(error)) throw new StorageError(`could not delete ${batch.length} objects`, error);
        this.multiDelete = false;
        this.logger.log('S3 does not implement DeleteObjects: deleting one object per request from now on');
        await Promise.all(batch.map((key) => this.delete(key)));
        continue;
      }
      for (const failed of answer.Errors ?? []) {
        if (failed.Code === 'NoSuchKey') continue;
        this.logger.warn(`S3 failed to delete ${failed.Key ?? '?'}: ${failed.Code ?? '?'}: ${failed.Message ?? ''}`);
      }
    }
  }

  private copySource(key: string): string {
    return `${this.bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}`;
  }

  private async ignoreMissing(what: string, call: () => Promise<unknown>): Promise<void> {
    try {
      await call();
    } catch (error) {
      if (isS3NotFound(error)) return;
      throw new StorageError(`could not ${what}`, error);
    }
  }

  /** `key` names the object, and so the upload, in the log line (never a body or a credential). */
  private async call<T>(what: string, key: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      this.logger.warn(`S3 failed to ${what} (${key}): ${(error as Error)?.name}: ${(error as Error)?.message}`);
      throw new StorageError(`could not ${what}`, error);
    }
  }
}

/**
 * What the final object carries however it is made (a multipart upload, an empty object, one stored whole): the
 * Content-Type from `filetype`, and the metadata as ASCII-only user metadata.
 */
function finalObjectFields(metadata: UploadMetadata): { ContentType: string; Metadata: Record<string, string> } {
  return { ContentType: contentTypeOf(metadata).mime, Metadata: toS3Metadata(metadata) };
}
