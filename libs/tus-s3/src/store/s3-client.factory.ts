import { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';

/**
 * The client the module creates, with three defaults that differ from the SDK's (each yields to `config`):
 *
 * - No `Expect: 100-continue`. The SDK sets it on every body of 2 MB or more (so on every part), and since late 2025
 *   sends such requests through a fresh agent without keep-alive (smithy-typescript#1754): each part then opens its
 *   own connection (and TLS handshake) and waits a round trip for the 100 before its first byte. The module only
 *   sends parts of uploads it already authorized, so asking first buys nothing.
 * - Since early 2025 the SDK sends CRC32 trailing checksums in `aws-chunked` bodies by default, which Ceph RGW,
 *   older MinIO and several other S3-compatible servers reject. With a custom endpoint we only send checksums an
 *   operation requires.
 * - `cacheMiddleware`: the SDK resolves each kind of command's middleware once, not on every call. A small PUT cost
 *   this machine 2.6 ms of CPU in the SDK, 2.1 ms with it; the module sends a few per upload, more per small PATCH.
 *   The price: middleware added to the client's stack after its first command of a kind does not apply to that kind.
 */
export function createS3Client(config: S3ClientConfig = {}): S3Client {
  const compatible: Partial<S3ClientConfig> = config.endpoint
    ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }
    : {};
  return new S3Client({ expectContinueHeader: false, cacheMiddleware: true, ...compatible, ...config });
}
