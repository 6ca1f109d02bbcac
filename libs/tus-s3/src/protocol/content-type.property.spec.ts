import fc from 'fast-check';
import { anyChar } from '../../../../test/support/properties';
import { contentTypeOf } from './content-type';

/** Properties of the download's Content-Type: a header-safe MIME type, and inline only for types that cannot run script. */

const TOKEN = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;
const INLINE =
  /^(image\/(png|jpeg|gif|webp|avif|bmp)|video\/[a-z0-9.+-]+|audio\/[a-z0-9.+-]+|text\/plain|application\/pdf)$/;

describe('contentTypeOf (properties)', () => {
  const declared = fc.oneof(
    fc.string({ unit: anyChar, maxLength: 40 }),
    fc
      .tuple(
        fc.constantFrom(
          'text',
          'TEXT',
          'image',
          'Image',
          'video',
          'audio',
          'application',
          'x',
          'ſ',
          '\u212a',
          'multipart',
        ),
        fc.constantFrom('/', '/ ', ' /', '//'),
        fc.constantFrom(
          'html',
          'plain',
          'svg+xml',
          'png',
          'PNG',
          'pdf',
          'javascript',
          'xhtml+xml',
          'mp4',
          'plain; charset=utf-8',
          'plain\r\nX: y',
          'ſvg',
          'plaın',
        ),
        fc.constantFrom('', ' ', '\t', '\n', '\u00a0'),
      )
      .map(([a, s, b, pad]) => `${pad}${a}${s}${b}${pad}`),
  );

  it('is always a lower-case ASCII token pair, and inline only for images, audio, video, plain text and PDF', () => {
    fc.assert(
      fc.property(
        fc.option(declared, { nil: undefined }),
        fc.option(declared, { nil: undefined }),
        (filetype, type) => {
          const metadata: Record<string, string> = {};
          if (filetype !== undefined) metadata.filetype = filetype;
          if (type !== undefined) metadata.type = type;
          const { mime, inlineSafe } = contentTypeOf(metadata);
          expect(mime).toMatch(TOKEN);
          if (inlineSafe) expect(mime).toMatch(INLINE);
          if (/html|xml|script|svg/.test(mime) && !/^(video|audio)\//.test(mime)) expect(inlineSafe).toBe(false);
          const chosen = (filetype ?? type ?? '').trim();
          expect(mime).toBe(
            TOKEN.test(chosen.toLowerCase()) && /^[\x21-\x7e]+$/.test(chosen)
              ? chosen.toLowerCase()
              : 'application/octet-stream',
          );
        },
      ),
      { numRuns: 600 },
    );
  });
});
