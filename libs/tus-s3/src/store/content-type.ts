import { UploadMetadata } from '../protocol/metadata';

const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/i;
/** Types a browser may show inline without risk of running script from our origin. */
const INLINE_SAFE = /^(image\/(png|jpeg|gif|webp|avif|bmp)|video\/[a-z0-9.+-]+|audio\/[a-z0-9.+-]+|text\/plain|application\/pdf)$/i;

/** The Content-Type of an upload, from the `filetype` (or `type`) metadata when it is a well-formed MIME type. */
export function contentTypeOf(metadata: UploadMetadata): { mime: string; inlineSafe: boolean } {
  const declared = (metadata.filetype ?? metadata.type ?? '').trim();
  if (!MIME.test(declared)) return { mime: 'application/octet-stream', inlineSafe: false };
  return { mime: declared.toLowerCase(), inlineSafe: INLINE_SAFE.test(declared) };
}

/**
 * Content-Disposition that cannot break out of its header: an ASCII fallback name with quotes, backslashes and
 * control characters removed, and the exact name in RFC 5987 form.
 */
export function contentDispositionOf(metadata: UploadMetadata, inline: boolean): string {
  const kind = inline ? 'inline' : 'attachment';
  const name = metadata.filename ?? metadata.name;
  if (!name) return kind;
  // Cut by code points: half a surrogate pair cannot be percent-encoded.
  const base = Array.from(name.replace(/^.*[\\/]/, '')).slice(0, 255).join('');
  const fallback = base.replace(/[^\x20-\x7e]|["\\%;]/g, '_').trim() || 'download';
  const encoded = encodeURIComponent(base).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${kind}; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
