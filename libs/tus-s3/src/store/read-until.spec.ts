import { PassThrough } from 'node:stream';
import { BodyEnd, readUntil } from './read-until';

async function collect(body: PassThrough, stop: AbortSignal): Promise<{ data: Buffer; end: BodyEnd | undefined }> {
  const parts: Buffer[] = [];
  let end: BodyEnd | undefined;
  for await (const chunk of readUntil(body, stop, (e) => (end = e))) parts.push(chunk);
  return { data: Buffer.concat(parts), end };
}

describe('readUntil', () => {
  it('reads a body to its end', async () => {
    const body = new PassThrough();
    const reading = collect(body, new AbortController().signal);
    body.write('abc');
    setTimeout(() => body.end('def'), 10);
    expect(await reading).toEqual({ data: Buffer.from('abcdef'), end: 'end' });
  });

  it('stops at once when asked, even while the client sends nothing', async () => {
    const body = new PassThrough();
    const stop = new AbortController();
    const reading = collect(body, stop.signal);
    body.write('abc');
    setTimeout(() => stop.abort(), 20);
    expect(await reading).toEqual({ data: Buffer.from('abc'), end: 'stopped' });
  });

  it('keeps what arrived when the client goes away', async () => {
    const body = new PassThrough();
    const reading = collect(body, new AbortController().signal);
    body.write('abc');
    setTimeout(() => body.destroy(new Error('aborted')), 20);
    expect(await reading).toEqual({ data: Buffer.from('abc'), end: 'client-aborted' });
  });

  it('leaves no listeners behind, however many chunks pass', async () => {
    const body = new PassThrough();
    const stop = new AbortController();
    const reading = collect(body, stop.signal);
    for (let i = 0; i < 200; i++) {
      body.write(Buffer.alloc(1024));
      await new Promise((r) => setImmediate(r));
    }
    body.end();
    const { data } = await reading;
    expect(data.length).toBe(200 * 1024);
    expect(body.listenerCount('readable') + body.listenerCount('error') + body.listenerCount('close')).toBe(0);
  });
});
