import { TusErrors } from './tus-error';

/** Node folds repeated headers into arrays for a few names only; tus headers must appear once. */
export type HeaderValue = string | string[] | undefined;

export function singleHeader(name: string, value: HeaderValue): string | undefined {
  if (Array.isArray(value)) {
    if (value.length > 1) throw TusErrors.badRequest(`${name} must be sent once`);
    return value[0];
  }
  return value;
}

const NON_NEGATIVE_INTEGER = /^(0|[1-9][0-9]*)$/;

/** Parses Upload-Length / Upload-Offset: digits only, no sign, no leading zeros, within JS's exact integers. */
export function parseNonNegativeInteger(name: string, raw: string): number {
  // HTTP's optional whitespace is SP and HTAB only; other Unicode spaces are not part of a number.
  const trimmed = raw.replace(/^[ \t]+|[ \t]+$/g, '');
  if (!NON_NEGATIVE_INTEGER.test(trimmed)) {
    throw TusErrors.badRequest(`${name} must be a non-negative integer, got "${raw.slice(0, 40)}"`);
  }
  const value = Number(trimmed);
  if (!Number.isSafeInteger(value)) throw TusErrors.badRequest(`${name} is too large`);
  return value;
}

/** The declared length of a creation request: a number, or `deferred` when Upload-Defer-Length: 1 was sent. */
export type DeclaredLength = { kind: 'known'; size: number } | { kind: 'deferred' };

export function parseDeclaredLength(uploadLength: string | undefined, deferLength: string | undefined): DeclaredLength {
  if (uploadLength !== undefined && deferLength !== undefined) {
    throw TusErrors.badRequest('send either Upload-Length or Upload-Defer-Length, not both');
  }
  if (uploadLength !== undefined)
    return { kind: 'known', size: parseNonNegativeInteger('Upload-Length', uploadLength) };
  if (deferLength !== undefined) {
    if (deferLength.trim() !== '1') throw TusErrors.badRequest('Upload-Defer-Length must be 1');
    return { kind: 'deferred' };
  }
  throw TusErrors.badRequest('Upload-Length or Upload-Defer-Length: 1 is required');
}
