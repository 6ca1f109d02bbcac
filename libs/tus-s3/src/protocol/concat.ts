import { TusErrors } from './tus-error';

/** Upload-Concat of a creation request (the concatenation extension). */
export type ConcatRequest = { kind: 'partial' } | { kind: 'final'; urls: string[] };

/**
 * `partial`, or `final;<url> <url> ...` where each URL (absolute, or a path) names a partial upload. Anything else is
 * a 400. Which upload a URL names is for the caller to say: it knows where uploads are mounted.
 */
export function parseUploadConcat(header: string | undefined): ConcatRequest | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (value === 'partial') return { kind: 'partial' };
  if (!value.startsWith('final;'))
    throw TusErrors.badRequest('Upload-Concat must be "partial" or "final;<url> <url> ..."');
  const urls = value.slice('final;'.length).trim().split(/ +/).filter(Boolean);
  if (urls.length === 0) throw TusErrors.badRequest('Upload-Concat: final needs the URLs of the partial uploads');
  if (urls.length > 10_000) throw TusErrors.badRequest('Upload-Concat: too many partial uploads');
  return { kind: 'final', urls };
}

/** The path of a URL (absolute, or a path alone), percent-decoded; undefined when it is not a URL. */
export function decodedPathOf(url: string): string | undefined {
  try {
    return decodeURIComponent(new URL(url, 'http://relative.invalid').pathname);
  } catch {
    return undefined;
  }
}
