import { toS3Metadata } from './ascii-metadata';
import { contentDispositionOf, contentTypeOf } from './content-type';

describe('S3 object metadata', () => {
  it('replaces every non-ASCII character with "?"', () => {
    expect(toS3Metadata({ filename: 'Menü', emoji: 'a😀b', line: 'a\nb', flag: null })).toEqual({
      filename: 'Men?',
      emoji: 'a?b',
      line: 'a?b',
      flag: '',
    });
  });

  it('makes keys valid header names', () => {
    expect(Object.keys(toS3Metadata({ 'File Name': 'x', 'A:b': 'y' }))).toEqual(['file_name', 'a_b']);
  });
});

describe('download headers', () => {
  it('uses filetype only when it is a MIME type', () => {
    expect(contentTypeOf({ filetype: 'image/png' })).toEqual({ mime: 'image/png', inlineSafe: true });
    expect(contentTypeOf({ filetype: 'text/html' })).toEqual({ mime: 'text/html', inlineSafe: false });
    expect(contentTypeOf({ filetype: 'evil\r\nX: y' }).mime).toBe('application/octet-stream');
  });

  it('builds a Content-Disposition that cannot break out of its header', () => {
    expect(contentDispositionOf({ filename: 'a"b%c;d.txt' }, false)).toBe(
      `attachment; filename="a_b_c_d.txt"; filename*=UTF-8''a%22b%25c%3Bd.txt`,
    );
    expect(contentDispositionOf({ filename: 'C:\\Users\\x\\r.txt' }, false)).toBe(
      `attachment; filename="r.txt"; filename*=UTF-8''r.txt`,
    );
    expect(contentDispositionOf({ filename: '../../etc/Menü.pdf' }, true)).toBe(
      `inline; filename="Men_.pdf"; filename*=UTF-8''Men%C3%BC.pdf`,
    );
    expect(contentDispositionOf({}, false)).toBe('attachment');
  });
});

describe('S3 metadata limits', () => {
  it('leaves off entries that would pass 2 KB, keeping the ones that fit', () => {
    const out = toS3Metadata({ filename: 'a.txt', huge: 'x'.repeat(5000), filetype: 'text/plain' });
    expect(out).toEqual({ filename: 'a.txt', filetype: 'text/plain' });
  });

  it('keeps the first of two keys that collide once made header-safe', () => {
    expect(toS3Metadata({ 'a b': '1', a_b: '2' })).toEqual({ a_b: '1' });
  });
});

describe('Content-Disposition of long names', () => {
  it('never splits a character when cutting at 255', () => {
    const name = `${'a'.repeat(254)}😀.txt`;
    expect(() => contentDispositionOf({ filename: name }, false)).not.toThrow();
  });
});
