import { MemoryStore } from '../../testing/memory-store';
import { TusHarness } from '../../testing/tus-test-harness';
import type { TusDataStore } from '../../store/tus-data-store';

describe('OptionsHandler (OPTIONS)', () => {
  let h: TusHarness;
  afterEach(() => h?.close());

  it('answers 204 with Tus-Version, every extension the memory store supports and Tus-Max-Size', async () => {
    h = await TusHarness.create({ options: { maxSize: 1024 } });
    const res = await h.request('OPTIONS', '/files', { withoutTusResumable: true });
    expect(res.statusCode).toBe(204);
    expect(res.header('Tus-Version')).toBe('1.0.0');
    expect(res.header('Tus-Extension')!.split(',')).toEqual([
      'creation',
      'creation-with-upload',
      'creation-defer-length',
      'termination',
      'checksum',
      'concatenation',
    ]);
    expect(res.header('Tus-Checksum-Algorithm')).toBe('sha1,md5,sha256,crc32');
    expect(res.header('Tus-Max-Size')).toBe('1024');
    expect(res.header('Tus-Resumable')).toBe('1.0.0');
    expect(res.body.length).toBe(0);
  });

  it('announces maxSize defaulting to the largest S3 object (5 TiB)', async () => {
    h = await TusHarness.create();
    const res = await h.request('OPTIONS', '/files', { withoutTusResumable: true });
    expect(res.header('Tus-Max-Size')).toBe(String(5 * 1024 ** 4));
  });

  it('is answered on an upload URL too, and without Tus-Resumable (the one request that may omit it)', async () => {
    h = await TusHarness.create();
    const res = await h.request('OPTIONS', '/files/0123abcd', { withoutTusResumable: true });
    expect(res.statusCode).toBe(204);
    expect(res.header('Tus-Version')).toBe('1.0.0');
  });

  it('leaves concatenation out for a store that cannot concatenate', async () => {
    const memory = new MemoryStore();
    const plain: TusDataStore = {
      create: (u) => memory.create(u),
      get: (id, lock) => memory.get(id, lock),
      write: (u, body, lock, limits) => memory.write(u, body, lock, limits),
      declareLength: (u, size, lock) => memory.declareLength(u, size, lock),
      terminate: (u, lock) => memory.terminate(u, lock),
      read: (u, range) => memory.read(u, range),
    };
    h = await TusHarness.create({ store: plain });
    const res = await h.request('OPTIONS', '/files', { withoutTusResumable: true });
    expect(res.header('Tus-Extension')).toBe(
      'creation,creation-with-upload,creation-defer-length,termination,checksum',
    );
  });

  it('leaves checksum and its algorithms out when it is switched off', async () => {
    h = await TusHarness.create({ options: { extensions: { checksum: false } } });
    const res = await h.request('OPTIONS', '/files', { withoutTusResumable: true });
    expect(res.header('Tus-Extension')).not.toContain('checksum');
    expect(res.header('Tus-Checksum-Algorithm')).toBeUndefined();
  });
});
