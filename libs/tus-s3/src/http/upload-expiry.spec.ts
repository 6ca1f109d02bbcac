import { MemoryStore } from '../testing/memory-store';
import { TusHarness } from '../testing/tus-test-harness';

/** The expiration extension over the in-memory store, with a clock the spec moves. */
describe('expiration (Upload-Expires, 410 Gone)', () => {
  const T0 = Date.parse('2026-03-01T12:00:00.000Z');
  let now = T0;
  const clock = { now: () => new Date(now) };
  let h: TusHarness;
  beforeEach(async () => {
    now = T0;
    h = await TusHarness.create({
      options: { expireAfterMs: 60_000 },
      store: new MemoryStore({ bucket: 'test-bucket', clock, expireAfterMs: 60_000 }),
      clock,
    });
  });
  afterEach(() => h.close());

  const expires = new Date(T0 + 60_000).toUTCString();

  it('lists expiration in OPTIONS when expireAfterMs is set, not otherwise', async () => {
    expect((await h.request('OPTIONS', '/files', { withoutTusResumable: true })).header('Tus-Extension')).toContain(
      'expiration',
    );
    const off = await TusHarness.create();
    expect(
      (await off.request('OPTIONS', '/files', { withoutTusResumable: true })).header('Tus-Extension'),
    ).not.toContain('expiration');
    await off.close();
  });

  it('sends Upload-Expires (IMF-fixdate) on the 201, the PATCH 204 and HEAD of an unfinished upload', async () => {
    const created = await h.request('POST', '/files', { headers: { 'Upload-Length': '6' } });
    expect(created.statusCode).toBe(201);
    expect(created.header('Upload-Expires')).toBe(expires);
    expect(expires).toMatch(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    const path = new URL(created.header('Location')!).pathname;
    now += 30_000; // a later request does not move it
    const patched = await h.request('PATCH', path, {
      headers: { 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
      body: 'abc',
    });
    expect(patched.statusCode).toBe(204);
    expect(patched.header('Upload-Expires')).toBe(expires);
    expect((await h.request('HEAD', path)).header('Upload-Expires')).toBe(expires);
  });

  it('answers 410 to HEAD, PATCH and GET once expired; DELETE still terminates it (then 404)', async () => {
    const upload = await h.seed({ size: 10, bytes: 'abc' });
    const path = h.pathOf(upload.id);
    now = T0 + 60_000;
    expect((await h.request('HEAD', path)).statusCode).toBe(410);
    const patch = await h.request('PATCH', path, {
      headers: { 'Upload-Offset': '3', 'Content-Type': 'application/offset+octet-stream' },
      body: 'def',
    });
    expect(patch.statusCode).toBe(410);
    expect(patch.body.toString()).toMatch(/expired/);
    expect((await h.request('GET', path)).statusCode).toBe(410);
    expect((await h.request('DELETE', path)).statusCode).toBe(204);
    expect((await h.request('HEAD', path)).statusCode).toBe(404);
  });

  it('never expires a finished upload: no Upload-Expires, and GET serves it after the expiry', async () => {
    const upload = await h.seed({ size: 3, bytes: 'abc' });
    now = T0 + 10 * 60_000;
    const head = await h.request('HEAD', h.pathOf(upload.id));
    expect(head.statusCode).toBe(200);
    expect(head.header('Upload-Expires')).toBeUndefined();
    expect((await h.request('GET', h.pathOf(upload.id))).statusCode).toBe(200);
  });
});
