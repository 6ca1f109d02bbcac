import { parseUploadConcat } from './concat';
import { TusError } from './tus-error';

describe('Upload-Concat', () => {
  it('reads partial and final', () => {
    expect(parseUploadConcat(undefined)).toBeUndefined();
    expect(parseUploadConcat('partial')).toEqual({ kind: 'partial' });
    expect(parseUploadConcat('final;http://h/files/abc /files/def  ghi')).toEqual({
      kind: 'final',
      uploadIds: ['abc', 'def', 'ghi'],
    });
  });

  it.each(['', 'part', 'final;', 'final;http://h/files/a.info', 'final;/files/..', 'final;/files/%2e%2e', 'final; /files/a%2Fb', 'final;/files/%zz'])(
    'rejects "%s" with 400',
    (header) => {
      expect(() => parseUploadConcat(header)).toThrow(TusError);
    },
  );
});
