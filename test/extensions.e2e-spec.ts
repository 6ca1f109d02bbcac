import { call } from './support/raw-http';
import { startTestApp, TestApp } from './support/test-app';

/** Every extension can be switched off: OPTIONS leaves it out and requests that need it are refused, creating nothing. */

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({
    options: {
      extensions: {
        'creation-with-upload': false,
        'creation-defer-length': false,
        termination: false,
        concatenation: false,
        checksum: false,
      },
    },
  });
});
afterAll(async () => {
  await t?.close();
});

it('OPTIONS lists only the extensions left on', async () => {
  const reply = await call('OPTIONS', t.endpoint, { 'Tus-Resumable': undefined });
  expect(reply.get('tus-extension')).toBe('creation');
});

it.each([
  ['creation-with-upload', { 'Upload-Length': 3, 'Content-Type': 'application/offset+octet-stream' }, 'abc'],
  ['creation-defer-length', { 'Upload-Defer-Length': 1 }, undefined],
  ['concatenation', { 'Upload-Length': 3, 'Upload-Concat': 'partial' }, undefined],
])('refuses a POST that needs %s with 400 and creates nothing', async (name, headers, body) => {
  const before = await t.s3.keys(t.prefix);
  const reply = await call('POST', t.endpoint, headers, body);
  expect(reply.status).toBe(400);
  expect(reply.text).toContain(`the ${name} extension is switched off`);
  expect(await t.s3.keys(t.prefix)).toEqual(before);
});

it('refuses a PATCH with Upload-Checksum with 400 when checksum is off, and keeps nothing', async () => {
  const url = (await call('POST', t.endpoint, { 'Upload-Length': 3 })).get('location')!;
  const headers = {
    'Content-Type': 'application/offset+octet-stream',
    'Upload-Offset': 0,
    'Upload-Checksum': 'sha1 qZk+NkcGgWq6PiVxeFDCbJzQ2J0=',
  };
  const reply = await call('PATCH', url, headers, 'abc');
  expect(reply.status).toBe(400);
  expect(reply.text).toContain('the checksum extension is switched off');
  expect((await call('HEAD', url)).get('upload-offset')).toBe('0');
});

it('answers DELETE with 405 when termination is off, and the upload stays', async () => {
  const url = (await call('POST', t.endpoint, { 'Upload-Length': 3 })).get('location')!;
  const reply = await call('DELETE', url);
  expect(reply.status).toBe(405);
  expect(reply.get('allow')).not.toContain('DELETE');
  expect((await call('HEAD', url)).status).toBe(200);
});

it('answers POST with 405 when creation itself is off', async () => {
  const closed = await startTestApp({ options: { extensions: { creation: false } } });
  try {
    const reply = await call('POST', closed.endpoint, { 'Upload-Length': 3 });
    expect(reply.status).toBe(405);
    expect((await call('OPTIONS', closed.endpoint, { 'Tus-Resumable': undefined })).get('tus-extension')).not.toMatch(
      /(^|,)creation(,|$)/,
    );
  } finally {
    await closed.close();
  }
});
