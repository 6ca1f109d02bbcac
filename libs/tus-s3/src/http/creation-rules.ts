import { Inject, Injectable } from '@nestjs/common';
import type { CreationDecision, TusHooks } from '../hooks/tus-hooks';
import { parseMetadata, serializeMetadata, UploadMetadata } from '../protocol/metadata';
import { ExpectedChecksum, parseUploadChecksum } from '../protocol/checksum';
import type { TusExtension } from '../protocol/tus-constants';
import { TusErrors } from '../protocol/tus-error';
import { isValidUploadId } from '../protocol/upload-id';
import type { NewUpload, UploadConcat } from '../store/tus-data-store';
import { TUS_HOOKS, TUS_S3_OPTIONS } from '../tus-s3.constants';
import type { ResolvedTusS3Options } from '../tus-s3.options';
import { requestPathOf, tusHeader, TusRequest } from './request';

/** A creation request once the app's `beforeCreate` decided: what to create, and the largest size allowed. */
export interface PlannedUpload {
  upload: NewUpload;
  sizeLimit: number;
}

/** What creation and concatenation share: the metadata, the app's decision, and the size limit. */
@Injectable()
export class CreationRules {
  constructor(
    @Inject(TUS_HOOKS) private readonly hooks: TusHooks,
    @Inject(TUS_S3_OPTIONS) private readonly options: ResolvedTusS3Options,
  ) {}

  /** Refuses a request that needs an extension switched off in the options. */
  requireExtension(name: TusExtension, what: string): void {
    if (!this.options.extensions.has(name))
      throw TusErrors.badRequest(`${what}: the ${name} extension is switched off here`);
  }

  /** Upload-Checksum of a request that carries data (the checksum extension), when sent. */
  checksumOf(req: TusRequest): ExpectedChecksum | undefined {
    const header = tusHeader(req, 'Upload-Checksum');
    if (header === undefined) return undefined;
    this.requireExtension('checksum', 'Upload-Checksum');
    return parseUploadChecksum(header);
  }

  metadataOf(req: TusRequest): { metadataHeader: string; metadata: UploadMetadata } {
    const metadataHeader = (tusHeader(req, 'Upload-Metadata') ?? '').trim();
    return { metadataHeader, metadata: parseMetadata(metadataHeader) };
  }

  /** Asks the app's `beforeCreate`, then checks the size against the limit it leaves. */
  async plan(req: TusRequest, size: number | null, concat?: UploadConcat): Promise<PlannedUpload> {
    const { metadataHeader, metadata } = this.metadataOf(req);
    const decision: CreationDecision = (await this.hooks.beforeCreate?.({ req, size, metadata, concat })) ?? {};
    if (decision.id !== undefined && !isValidUploadId(decision.id)) {
      throw new Error(
        `beforeCreate chose an invalid upload id ${JSON.stringify(decision.id)}: see CreationDecision.id`,
      );
    }
    const sizeLimit = Math.min(this.options.maxSize, decision.maxSize ?? Infinity);
    if (size !== null && size > sizeLimit) {
      const what = concat?.kind === 'final' ? 'the partial uploads add up to' : 'Upload-Length';
      throw TusErrors.tooLarge(`${what} ${size} bytes, above the ${sizeLimit} allowed`);
    }
    const chosen = decision.metadata === undefined ? undefined : Object.freeze({ ...decision.metadata });
    return {
      upload: {
        id: decision.id,
        size,
        metadataHeader: chosen ? serializeMetadata(chosen) : metadataHeader,
        metadata: chosen ?? metadata,
        concat,
        sizeLimit: sizeLimit < this.options.maxSize ? sizeLimit : undefined,
      },
      sizeLimit,
    };
  }

  /** The URL of a new upload: the request's own URL (with Nest's global prefix), plus the id. */
  locationOf(req: TusRequest, id: string): string {
    const path = requestPathOf(req);
    const forwarded = this.options.trustProxy;
    const proto =
      (forwarded && tusHeader(req, 'X-Forwarded-Proto')?.split(',')[0].trim()) ||
      ((req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http');
    const host = (forwarded && tusHeader(req, 'X-Forwarded-Host')?.split(',')[0].trim()) || req.headers.host;
    return host ? `${proto}://${host}${path}/${id}` : `${path}/${id}`;
  }
}
