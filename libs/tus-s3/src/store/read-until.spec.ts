import { getEventListeners } from 'node:events';
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

  it('reads every chunk of a body the app also listens to, which sees every chunk too', async () => {
    const body = new PassThrough();
    const seen: Buffer[] = [];
    // A middleware counting or logging bytes: attached before the module reads, which starts the flow.
    body.on('data', (chunk: Buffer) => seen.push(chunk));
    const reading = collect(body, new AbortController().signal);
    for (let i = 0; i < 20; i++) {
      body.write(Buffer.alloc(1024, i));
      await new Promise((r) => setImmediate(r));
    }
    body.end();
    const { data, end } = await reading;
    expect(end).toBe('end');
    expect(data.length).toBe(20 * 1024);
    expect(Buffer.concat(seen).equals(data)).toBe(true);
    expect(body.listenerCount('readable')).toBe(0);
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

  it('listens on the stop signal once per body, not once per wait, and leaves no listener on it', async () => {
    const body = new PassThrough();
    const stop = new AbortController();
    const added = jest.spyOn(stop.signal, 'addEventListener');
    const reading = collect(body, stop.signal);
    for (let i = 0; i < 50; i++) {
      body.write(Buffer.alloc(16));
      await new Promise((r) => setImmediate(r));
    }
    body.end();
    expect((await reading).data.length).toBe(50 * 16);
    expect(added).toHaveBeenCalledTimes(1);
    expect(getEventListeners(stop.signal, 'abort')).toHaveLength(0);
  });

  it('still stops at once on a signal that aborts during its second wait', async () => {
    const body = new PassThrough();
    const stop = new AbortController();
    const reading = collect(body, stop.signal);
    body.write('abc');
    await new Promise((r) => setTimeout(r, 10));
    body.write('def');
    setTimeout(() => stop.abort(), 10);
    expect(await reading).toEqual({ data: Buffer.from('abcdef'), end: 'stopped' });
  });
});
