import { contentDispositionOf } from './content-disposition';

describe('contentDispositionOf', () => {
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

  it('never splits a character when cutting at 255', () => {
    const name = `${'a'.repeat(254)}😀.txt`;
    expect(() => contentDispositionOf({ filename: name }, false)).not.toThrow();
  });
});
