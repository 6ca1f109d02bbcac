import { Inject, Injectable } from '@nestjs/common';
import { TusErrors } from '../protocol/tus-error';
import type { Upload } from '../store/tus-data-store';
import { Clock, TUS_CLOCK } from '../tus-s3.constants';

/**
 * The expiration extension, as requests see it: an unfinished upload past its `expiresAt` is answered 410 Gone
 * (HEAD, PATCH, GET) until the sweeper removes it (then 404); DELETE still terminates it. Finished uploads never
 * expire (their `expiresAt` is null).
 */
@Injectable()
export class UploadExpiry {
  constructor(@Inject(TUS_CLOCK) private readonly clock: Clock) {}

  /** @throws TusError 410 when the upload has expired */
  assertLive(upload: Upload): void {
    if (upload.expiresAt !== null && Date.parse(upload.expiresAt) <= this.clock.now().getTime()) {
      throw TusErrors.gone(new Date(upload.expiresAt).toUTCString());
    }
  }
}

/** `Upload-Expires` (an RFC 9110 IMF-fixdate) for an unfinished upload that expires; undefined otherwise. */
export function uploadExpiresHeader(upload: Pick<Upload, 'expiresAt'>): string | undefined {
  return upload.expiresAt === null ? undefined : new Date(upload.expiresAt).toUTCString();
}
