import fc from 'fast-check';
import { anyChar, outcome } from '../../../../test/support/properties';
import { isValidUploadId } from '../protocol/upload-id';
import { uploadIdOfUrl } from './upload-url';

/**
 * Properties of the URLs in Upload-Concat: whatever a client writes, the id that comes out is one isValidUploadId
 * accepts (so no URL reaches `<id>.info`, a chunk, or another prefix), or the answer is a TusError(400).
 */

const SEGMENT_CHARS = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-'];
const segment = fc.string({ unit: fc.constantFrom(...SEGMENT_CHARS), minLength: 1, maxLength: 20 });
const validId = fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => s.join('/'));
const mount = fc.constantFrom('/files', '/files/', '/api/v1/uploads', '/u', '/');
const hostilePiece = fc.constantFrom(
  '/',
  '//',
  '..',
  '.',
  '%2e',
  '%2E',
  '%2e%2e',
  '%2f',
  '%2F',
  '%5c',
  '%5C',
  '\\',
  '%00',
  '%0a',
  '%',
  '%zz',
  '%c3%a9',
  '%ff',
  '%ed%a0%80',
  '?',
  '?x=1',
  '#',
  '#frag',
  'http://h',
  'https://evil.example',
  '//evil',
  '@',
  ':',
  'files',
  'a.info',
  '.chunk.0.x',
  ' ',
  '\t',
  'é',
  '\u0000',
  '\ud800',
  'file:///etc/passwd',
  'javascript:x',
);

describe('uploadIdOfUrl (properties)', () => {
  it('never returns an id that isValidUploadId rejects; anything else is a TusError(400)', () => {
    const url = fc.oneof(
      fc.string({ unit: anyChar, maxLength: 60 }),
      fc.array(fc.oneof(hostilePiece, segment), { maxLength: 12 }).map((p) => p.join('')),
      fc
        .tuple(
          fc.constantFrom('', 'http://h', 'http://h/api'),
          mount,
          fc.array(fc.oneof(hostilePiece, segment), { maxLength: 8 }),
        )
        .map(([origin, m, p]) => `${origin}${m}${p.join('')}`),
    );
    fc.assert(
      fc.property(url, mount, (raw, mountPath) => {
        const result = outcome(() => uploadIdOfUrl(raw, mountPath));
        if ('status' in result) return expect(result.status).toBe(400);
        expect(isValidUploadId(result.value)).toBe(true);
        expect(result.value).not.toMatch(/[.\\%]|^\/|\/\/|\/$/);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads the id back from an absolute URL, a path, a bare id, and a percent-encoded path', () => {
    fc.assert(
      fc.property(
        validId,
        mount,
        fc.constantFrom('', 'http://h', 'https://h:8443', 'http://h/api'),
        fc.array(fc.boolean(), { minLength: 120, maxLength: 120 }),
        (id, m, origin, encodeAt) => {
          // With the mount at "/", a prefix before it cannot be told from the id's own segments (see hostile.e2e-spec).
          fc.pre(!(m === '/' && origin.endsWith('/api')));
          const base = m.replace(/\/+$/, '');
          expect(uploadIdOfUrl(`${origin}${base}/${id}`, m)).toBe(id);
          // A bare id that itself begins with the mount's segments (id "u/x", mount "/u") reads as a path: ambiguous.
          const bareIsAmbiguous = base === '' ? id.includes('/') : `/${id}`.includes(`${base}/`);
          if (!bareIsAmbiguous) expect(uploadIdOfUrl(id, m)).toBe(id);
          // Clients may percent-encode any character, the "/" included.
          const encoded = [...id]
            .map((c, i) => (encodeAt[i % encodeAt.length] ? `%${c.charCodeAt(0).toString(16)}` : c))
            .join('');
          expect(uploadIdOfUrl(`${origin}${base}/${encoded}`, m)).toBe(id);
        },
      ),
    );
  });
});
