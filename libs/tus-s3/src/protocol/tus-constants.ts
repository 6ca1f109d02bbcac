export const TUS_RESUMABLE = '1.0.0';
export const TUS_VERSION = '1.0.0';
/** Extensions every store gets from the protocol layer; the store's capabilities add more (e.g. concatenation). */
export const TUS_CORE_EXTENSIONS = [
  'creation',
  'creation-with-upload',
  'creation-defer-length',
  'termination',
] as const;
/** Every extension this module can serve. */
export const TUS_ALL_EXTENSIONS = [...TUS_CORE_EXTENSIONS, 'checksum', 'concatenation', 'expiration'] as const;
export type TusExtension = (typeof TUS_ALL_EXTENSIONS)[number];
export const OFFSET_OCTET_STREAM = 'application/offset+octet-stream';

/** Request headers a browser client must be allowed to send, and response headers it must be allowed to read. */
export const TUS_REQUEST_HEADERS = [
  'Authorization',
  'Content-Type',
  'Location',
  'Tus-Extension',
  'Tus-Max-Size',
  'Tus-Resumable',
  'Tus-Version',
  'Upload-Checksum',
  'Upload-Concat',
  'Upload-Defer-Length',
  'Upload-Length',
  'Upload-Metadata',
  'Upload-Offset',
  'X-HTTP-Method-Override',
  'X-Requested-With',
] as const;
export const TUS_EXPOSED_HEADERS = [
  'Location',
  'Tus-Checksum-Algorithm',
  'Tus-Extension',
  'Tus-Max-Size',
  'Tus-Resumable',
  'Tus-Version',
  'Upload-Concat',
  'Upload-Defer-Length',
  'Upload-Expires',
  'Upload-Length',
  'Upload-Metadata',
  'Upload-Offset',
] as const;
