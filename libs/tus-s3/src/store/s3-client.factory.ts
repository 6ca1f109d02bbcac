import { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';

/**
 * Since early 2025 the SDK sends CRC32 trailing checksums in `aws-chunked` bodies by default, which Ceph RGW,
 * older MinIO and several other S3-compatible servers reject. With a custom endpoint we only send checksums an
 * operation requires, unless the caller chose otherwise.
 */
export function createS3Client(config: S3ClientConfig = {}): S3Client {
  const compatible: Partial<S3ClientConfig> = config.endpoint
    ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }
    : {};
  return new S3Client({ ...compatible, ...config });
}
