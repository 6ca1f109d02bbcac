import fc from 'fast-check';
import { anyChar } from '../../../../test/support/properties';
import { isValidUploadId, MAX_UPLOAD_ID_LENGTH } from './upload-id';

/** Properties of upload ids: nothing that could name another object in S3 (a dot, an escape, an empty segment) passes. */

const SEGMENT_CHARS = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-'];
const segment = fc.string({ unit: fc.constantFrom(...SEGMENT_CHARS), minLength: 1, maxLength: 40 });
const validId = fc.array(segment, { minLength: 1, maxLength: 8 }).map((s) => s.join('/'));

describe('isValidUploadId (properties)', () => {
  it('accepts every id made of segments of [A-Za-z0-9_-] joined by "/", up to MAX_UPLOAD_ID_LENGTH characters', () => {
    fc.assert(
      fc.property(validId, (id) => {
        expect(isValidUploadId(id)).toBe(id.length <= MAX_UPLOAD_ID_LENGTH);
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2000 }), (n) =>
        expect(isValidUploadId('a'.repeat(n))).toBe(n <= MAX_UPLOAD_ID_LENGTH),
      ),
    );
  });

  it("never accepts a string with '.', '\\\\', '%', a control or non-ASCII character, or an empty segment", () => {
    const hostilePiece = fc.constantFrom(
      '.',
      '..',
      '\\',
      '%',
      '%2e',
      '%00',
      '\u0000',
      '\n',
      '\r',
      '\t',
      ' ',
      'é',
      '١',
      'Ａ',
      '\u212a',
      '\ud800',
      ':',
      '?',
      '#',
      '*',
      '~',
    );
    const id = fc.oneof(
      fc.string({ unit: anyChar, maxLength: 60 }),
      fc.array(fc.oneof(segment, fc.constant('/'), hostilePiece), { maxLength: 12 }).map((p) => p.join('')),
      fc
        .tuple(validId, hostilePiece, validId, fc.boolean())
        .map(([a, h, b, around]) => (around ? `${a}${h}${b}` : `${h}${a}`)),
      fc.tuple(validId, fc.constantFrom('/', '//', '///')).map(([a, slash]) => `${slash}${a}`),
      fc.tuple(validId, fc.constantFrom('/', '//')).map(([a, slash]) => `${a}${slash}`),
      fc.tuple(validId, validId).map(([a, b]) => `${a}//${b}`),
    );
    fc.assert(
      fc.property(id, (raw) => {
        const hostile =
          raw === '' ||
          /[^A-Za-z0-9_\-/]/.test(raw) ||
          raw.split('/').some((s) => s === '') ||
          raw.length > MAX_UPLOAD_ID_LENGTH;
        if (hostile) expect(isValidUploadId(raw)).toBe(false);
        else expect(isValidUploadId(raw)).toBe(true);
        if (/[.\\%]/.test(raw)) expect(isValidUploadId(raw)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });
});
