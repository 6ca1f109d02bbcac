import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';

/**
 * An S3 in memory for unit specs, behind aws-sdk-client-mock: objects, multipart uploads (completion checks the
 * ETags as S3 does), server-side copies, and the errors S3 answers for what is missing. Objects are named
 * `<bucket>/<key>`.
 */
export class FakeS3 {
  readonly mock = mockClient(S3Client);
  readonly objects = new Map<
    string,
    { body: Buffer; contentType?: string; metadata?: Record<string, string>; etag?: string }
  >();
  readonly uploads = new Map<string, { name: string; parts: Map<number, { body: Buffer; etag: string }> }>();
  private nextUpload = 1;
  /** Awaited before each UploadPart is stored: a spec holds a part in flight by returning a pending promise. */
  beforePart: (partNumber: number) => Promise<void> = async () => undefined;

  constructor() {
    this.reset();
  }

  /** Forgets every object, upload and recorded call. */
  reset(): void {
    this.mock.reset();
    this.objects.clear();
    this.uploads.clear();
    this.nextUpload = 1;
    this.beforePart = async () => undefined;
    this.mock.on(PutObjectCommand).callsFake(async (input) => {
      const body = await drain(input.Body);
      const etag = md5Etag(body);
      this.objects.set(`${input.Bucket}/${input.Key}`, {
        body,
        contentType: input.ContentType,
        metadata: input.Metadata,
        etag,
      });
      return { ETag: etag };
    });
    this.mock.on(GetObjectCommand).callsFake(async (input) => {
      const object = this.objects.get(`${input.Bucket}/${input.Key}`);
      if (!object) throw notFound('NoSuchKey');
      const [, from, to] = /^bytes=(\d+)-(\d+)$/.exec(input.Range ?? '') ?? [];
      const body = from === undefined ? object.body : object.body.subarray(Number(from), Number(to) + 1);
      return { Body: sdkBody(body), ContentLength: body.length, ContentType: object.contentType };
    });
    this.mock.on(DeleteObjectCommand).callsFake(async (input) => {
      this.objects.delete(`${input.Bucket}/${input.Key}`);
      return {};
    });
    this.mock.on(DeleteObjectsCommand).callsFake(async (input) => {
      for (const { Key } of input.Delete?.Objects ?? []) this.objects.delete(`${input.Bucket}/${Key}`);
      return {};
    });
    this.mock.on(HeadObjectCommand).callsFake(async (input) => {
      const object = this.objects.get(`${input.Bucket}/${input.Key}`);
      if (!object) throw notFound('NotFound');
      return {
        ContentLength: object.body.length,
        ContentType: object.contentType,
        Metadata: object.metadata,
        ETag: object.etag,
      };
    });
    this.mock.on(CreateMultipartUploadCommand).callsFake(async (input) => {
      const id = `mpu-${this.nextUpload++}`;
      this.uploads.set(id, { name: `${input.Bucket}/${input.Key}`, parts: new Map() });
      return { UploadId: id };
    });
    this.mock.on(UploadPartCommand).callsFake(async (input) => {
      await this.beforePart(input.PartNumber);
      const body = await drain(input.Body);
      if (body.length !== input.ContentLength)
        throw new Error(`part of ${body.length} bytes sent as ${input.ContentLength}`);
      return { ETag: this.storePart(input, body) };
    });
    this.mock.on(UploadPartCopyCommand).callsFake(async (input) => {
      const source = this.objects.get(decodeURIComponent(input.CopySource));
      if (!source) throw notFound('NoSuchKey');
      const range = /^bytes=(\d+)-(\d+)$/.exec(input.CopySourceRange ?? '');
      const body = range ? source.body.subarray(Number(range[1]), Number(range[2]) + 1) : source.body;
      return { CopyPartResult: { ETag: this.storePart(input, body) } };
    });
    this.mock.on(CompleteMultipartUploadCommand).callsFake(async (input) => {
      const upload = this.uploadOf(input);
      const listed = input.MultipartUpload.Parts as Array<{ PartNumber: number; ETag: string }>;
      const bodies = listed.map(({ PartNumber, ETag }) => {
        const part = upload.parts.get(PartNumber);
        if (part?.etag !== ETag) throw Object.assign(new Error(`part ${PartNumber}`), { name: 'InvalidPart' });
        return part.body;
      });
      // S3's ETag of a multipart object: the MD5 of the parts' MD5s, and their number.
      const md5s = Buffer.concat(listed.map(({ ETag }) => Buffer.from(ETag.replace(/"/g, ''), 'hex')));
      const etag = `"${createHash('md5').update(md5s).digest('hex')}-${listed.length}"`;
      this.objects.set(upload.name, { body: Buffer.concat(bodies), etag });
      this.uploads.delete(input.UploadId);
      return {};
    });
    this.mock.on(AbortMultipartUploadCommand).callsFake(async (input) => {
      this.uploadOf(input);
      this.uploads.delete(input.UploadId);
      return {};
    });
    this.mock.on(CopyObjectCommand).callsFake(async (input) => {
      const source = this.objects.get(decodeURIComponent(input.CopySource));
      if (!source) throw notFound('NoSuchKey');
      this.objects.set(`${input.Bucket}/${input.Key}`, { ...source });
      return {};
    });
  }

  /** Names of the objects whose name starts with `prefix`, sorted. */
  names(prefix = ''): string[] {
    return [...this.objects.keys()].filter((name) => name.startsWith(prefix)).sort();
  }

  body(name: string): Buffer | undefined {
    return this.objects.get(name)?.body;
  }

  json(name: string): Record<string, unknown> {
    const body = this.body(name);
    if (!body) throw new Error(`no object ${name}`);
    return JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  }

  /** How many times each command was sent, e.g. `{ UploadPart: 2 }`. */
  counts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const call of this.mock.calls()) {
      const name = (call.args[0] as object).constructor.name.replace(/Command$/, '');
      counts[name] = (counts[name] ?? 0) + 1;
    }
    return counts;
  }

  private storePart(input: { UploadId?: string; PartNumber?: number }, body: Buffer): string {
    const etag = md5Etag(body);
    this.uploadOf(input).parts.set(input.PartNumber!, { body, etag });
    return etag;
  }

  private uploadOf(input: { UploadId?: string }) {
    const upload = this.uploads.get(input.UploadId!);
    if (!upload) throw notFound('NoSuchUpload');
    return upload;
  }
}

export async function drain(body: unknown): Promise<Buffer> {
  if (typeof body === 'string') return Buffer.from(body);
  if (Buffer.isBuffer(body)) return body;
  const chunks: Buffer[] = [];
  for await (const chunk of body as Readable) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function md5Etag(body: Buffer): string {
  return `"${createHash('md5').update(body).digest('hex')}"`;
}

/** A response body as the SDK returns it: a stream that can also be read whole. */
function sdkBody(bytes: Buffer): Readable {
  return Object.assign(Readable.from([bytes]), {
    transformToString: async (encoding?: BufferEncoding) => bytes.toString(encoding),
  });
}

function notFound(name: string): Error {
  return Object.assign(new Error(name), { name, $metadata: { httpStatusCode: 404 } });
}
