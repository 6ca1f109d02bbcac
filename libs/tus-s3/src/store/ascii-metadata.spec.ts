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
