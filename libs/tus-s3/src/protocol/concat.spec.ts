import { parseUploadConcat } from './concat';
import { TusError } from './tus-error';

describe('Upload-Concat', () => {
  it('reads partial and final', () => {
    expect(parseUploadConcat(undefined)).toBeUndefined();
    expect(parseUploadConcat('partial')).toEqual({ kind: 'partial' });
    expect(parseUploadConcat('final;http://h/files/abc /files/def  ghi')).toEqual({
      kind: 'final',
      urls: ['http://h/files/abc', '/files/def', 'ghi'],
    });
  });

  it.each(['', 'part', 'final;', 'final; ', 'partial;x'])('rejects "%s" with 400', (header) => {
    expect(() => parseUploadConcat(header)).toThrow(TusError);
  });
});
