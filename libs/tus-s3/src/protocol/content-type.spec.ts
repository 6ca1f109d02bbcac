import { contentTypeOf } from './content-type';

describe('contentTypeOf', () => {
  it('uses filetype only when it is a MIME type', () => {
    expect(contentTypeOf({ filetype: 'image/png' })).toEqual({ mime: 'image/png', inlineSafe: true });
    expect(contentTypeOf({ filetype: 'text/html' })).toEqual({ mime: 'text/html', inlineSafe: false });
    expect(contentTypeOf({ filetype: 'evil\r\nX: y' }).mime).toBe('application/octet-stream');
  });
});
