import type { UploadMetadata } from '../protocol/metadata';

/**
 * Content-Disposition that cannot break out of its header: an ASCII fallback name with quotes, backslashes and
 * control characters removed, and the exact name in RFC 5987 form.
 */
export function contentDispositionOf(metadata: UploadMetadata, inline: boolean): string {
  const kind = inline ? 'inline' : 'attachment';
  const name = metadata.filename ?? metadata.name;
  if (!name) return kind;
  // Cut by code points: half a surrogate pair cannot be percent-encoded.
  // [\s\S]: a directory is stripped even when the name holds a line break.
  const base = Array.from(wellFormed(name.replace(/^[\s\S]*[\\/]/, '')))
    .slice(0, 255)
    .join('');
  const fallback = base.replace(/[^\x20-\x7e]|["\\%;]/g, '_').trim() || 'download';
  const encoded = encodeURIComponent(base).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${kind}; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

/** A lone surrogate cannot be percent-encoded: replace it, as String.prototype.toWellFormed does. */
function wellFormed(text: string): string {
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}
