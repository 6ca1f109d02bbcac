import { UploadMetadata } from './metadata';

const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/i;
/** Types a browser may show inline without risk of running script from our origin. */
const INLINE_SAFE =
  /^(image\/(png|jpeg|gif|webp|avif|bmp)|video\/[a-z0-9.+-]+|audio\/[a-z0-9.+-]+|text\/plain|application\/pdf)$/i;

/** The Content-Type of an upload, from the `filetype` (or `type`) metadata when it is a well-formed MIME type. */
export function contentTypeOf(metadata: UploadMetadata): { mime: string; inlineSafe: boolean } {
  const declared = (metadata.filetype ?? metadata.type ?? '').trim();
  if (!MIME.test(declared)) return { mime: 'application/octet-stream', inlineSafe: false };
  return { mime: declared.toLowerCase(), inlineSafe: INLINE_SAFE.test(declared) };
}
