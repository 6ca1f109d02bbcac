import { toS3Metadata } from './ascii-metadata';

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

describe('S3 metadata limits', () => {
  it('leaves off entries that would pass 2 KB, keeping the ones that fit', () => {
    const out = toS3Metadata({ filename: 'a.txt', huge: 'x'.repeat(5000), filetype: 'text/plain' });
    expect(out).toEqual({ filename: 'a.txt', filetype: 'text/plain' });
  });

  it('keeps the first of two keys that collide once made header-safe', () => {
    expect(toS3Metadata({ 'a b': '1', a_b: '2' })).toEqual({ a_b: '1' });
  });
});
