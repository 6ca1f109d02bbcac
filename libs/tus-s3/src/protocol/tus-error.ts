/**
 * A protocol-level failure with the HTTP status the client should see. The message is the response body: it
 * should tell the client what was wrong and, where possible, what to do.
 */
export class TusError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'TusError';
  }
}

export const TusErrors = {
  unsupportedVersion: (got: string | undefined) =>
    new TusError(
      412,
      got === undefined
        ? 'Tus-Resumable header is missing: this server speaks tus 1.0.0'
        : `Tus-Resumable ${got} is not supported: this server speaks tus 1.0.0`,
      { 'Tus-Version': '1.0.0' },
    ),
  notFound: () => new TusError(404, 'upload not found'),
  gone: (expiredAt: string) => new TusError(410, `the upload expired at ${expiredAt}; create a new one`),
  forbidden: (message: string) => new TusError(403, message),
  methodNotAllowed: (allowed: string) =>
    new TusError(405, `method not allowed here; allowed: ${allowed}`, { Allow: allowed }),
  badRequest: (message: string) => new TusError(400, message),
  conflict: (message: string) => new TusError(409, message),
  checksumMismatch: (algorithm: string) =>
    new TusError(
      460,
      `Checksum Mismatch: the body does not match its Upload-Checksum (${algorithm}); nothing of it was kept, send it again`,
    ),
  offsetMismatch: (expected: number, got: number) =>
    new TusError(
      409,
      `Upload-Offset ${got} does not match the upload's current offset ${expected}; send HEAD to resume`,
    ),
  tooLarge: (message: string) => new TusError(413, message),
  unsupportedMediaType: () => new TusError(415, 'PATCH requests need Content-Type: application/offset+octet-stream'),
  locked: () => new TusError(423, 'the upload is in use by another request; retry in a moment', { 'Retry-After': '1' }),
  unavailable: (message: string) => new TusError(503, message, { 'Retry-After': '2' }),
} as const;
