import { TusErrors } from './tus-error';

/** The checksum extension's algorithms: sha1 (which the protocol requires), md5, sha256 and crc32. */
export const CHECKSUM_ALGORITHMS = ['sha1', 'md5', 'sha256', 'crc32'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

/** What a request's body must hash to. */
export interface ExpectedChecksum {
  readonly algorithm: ChecksumAlgorithm;
  readonly digest: Buffer;
}

const DIGEST_BYTES: Record<ChecksumAlgorithm, number> = { sha1: 20, md5: 16, sha256: 32, crc32: 4 };
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * `Upload-Checksum: <algorithm> <base64 digest>`. An algorithm we do not serve, or a value that is not the base64 of
 * a digest of that algorithm's length, is a 400 (a mismatch found later is a 460).
 */
export function parseUploadChecksum(header: string | undefined): ExpectedChecksum | undefined {
  if (header === undefined) return undefined;
  const parts = header.trim().split(' ');
  if (parts.length !== 2) throw TusErrors.badRequest('Upload-Checksum must be "<algorithm> <base64 digest>"');
  const [name, value] = parts;
  const algorithm = CHECKSUM_ALGORITHMS.find((known) => known === name.toLowerCase());
  if (!algorithm) {
    throw TusErrors.badRequest(
      `Upload-Checksum: algorithm ${name.slice(0, 20)} is not supported; use one of ${CHECKSUM_ALGORITHMS.join(', ')}`,
    );
  }
  if (!BASE64.test(value)) throw TusErrors.badRequest('Upload-Checksum: the digest is not base64');
  const digest = Buffer.from(value, 'base64');
  if (digest.length !== DIGEST_BYTES[algorithm]) {
    throw TusErrors.badRequest(
      `Upload-Checksum: a ${algorithm} digest has ${DIGEST_BYTES[algorithm]} bytes, this one ${digest.length}`,
    );
  }
  return { algorithm, digest };
}
