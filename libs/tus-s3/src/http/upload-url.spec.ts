import { TusError } from '../protocol/tus-error';
import { uploadIdOfUrl } from './upload-url';

describe('uploadIdOfUrl', () => {
  it('takes what follows the mount path, or a bare id', () => {
    expect(uploadIdOfUrl('http://h/api/files/abc', '/files')).toBe('abc');
    expect(uploadIdOfUrl('/files/tenant-a/2026/x_1', '/files')).toBe('tenant-a/2026/x_1');
    expect(uploadIdOfUrl('ghi', '/files')).toBe('ghi');
    expect(uploadIdOfUrl('/files/a%2Fb', '/files')).toBe('a/b');
  });

  it('prefers the collection URL the request was sent to, global prefix included', () => {
    expect(uploadIdOfUrl('http://h/api/abc', '/', '/api')).toBe('abc');
    expect(uploadIdOfUrl('/files/files/abc', '/files', '/files/files')).toBe('abc');
    expect(uploadIdOfUrl('/abc', '/', '')).toBe('abc');
  });

  it.each([
    'http://h/files/a.info',
    '/files/..',
    '/files/%2e%2e',
    '/files/%zz',
    '/files/',
    '/files/a//b',
    'http://h/files/a/',
  ])('refuses "%s" with 400', (url) => {
    expect(() => uploadIdOfUrl(url, '/files')).toThrow(TusError);
    try {
      uploadIdOfUrl(url, '/files');
    } catch (error) {
      expect((error as TusError).status).toBe(400);
    }
  });
});
