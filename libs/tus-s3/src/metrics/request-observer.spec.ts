import { createServer, IncomingMessage, request, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import * as promClient from 'prom-client';
import { Registry } from 'prom-client';
import { observeTusRequest } from './request-observer';
import { TusMetrics } from './tus-metrics';

/** A server that observes each request, then (like the tus service) reads the body with a pipeline and answers. */
function serve(metrics: TusMetrics, handle?: (req: IncomingMessage, res: ServerResponse) => void) {
  const seen: { flowingAfterObserve: boolean | null; bodyBytes: number }[] = [];
  const readAndAnswer = async (req: IncomingMessage, res: ServerResponse, entry: (typeof seen)[number]) => {
    await pipeline(
      req,
      new Writable({ write: (chunk: Buffer, _e, done) => ((entry.bodyBytes += chunk.length), done()) }),
    );
    res.writeHead(204).end();
  };
  const server = createServer((req, res) => {
    // Let the parser push what came with the headers first, as it does before Nest reaches the middleware.
    setImmediate(() => {
      observeTusRequest(metrics, req, res);
      const entry = { flowingAfterObserve: req.readableFlowing, bodyBytes: 0 };
      seen.push(entry);
      if (handle) handle(req, res);
      else void readAndAnswer(req, res, entry);
    });
  });
  return { server, seen };
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function send(port: number, method: string, headers: Record<string, string>, chunks: Buffer[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

async function sample(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const values = (await registry.getSingleMetric(name)!.get()).values;
  return values.find((v) => Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l))?.value ?? 0;
}

describe('observeTusRequest', () => {
  let registry: Registry;
  let metrics: TusMetrics;
  let server: Server;

  beforeEach(() => {
    registry = new Registry();
    metrics = new TusMetrics(promClient, { registry });
  });

  afterEach(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  it('counts body bytes exactly, without putting the request in flowing mode', async () => {
    const served = serve(metrics);
    server = served.server;
    const port = await listen(server);
    const body = Buffer.alloc(3 * 1024 * 1024 + 7, 1);
    expect(await send(port, 'PATCH', { 'content-length': String(body.length) }, [body])).toBe(204);
    const chunked = [Buffer.alloc(10_000, 2), Buffer.alloc(5, 3), Buffer.alloc(70_000, 4)];
    expect(await send(port, 'PATCH', {}, chunked)).toBe(204); // chunked transfer encoding: framing not counted

    expect(served.seen.map((s) => s.flowingAfterObserve)).toEqual([null, null]);
    expect(served.seen.map((s) => s.bodyBytes)).toEqual([body.length, 80_005]);
    expect(await sample(registry, 'tus_received_bytes_total')).toBe(body.length + 80_005);
    expect(await sample(registry, 'tus_requests_total', { method: 'PATCH', status: '204' })).toBe(2);
  });

  it('labels the method the request has once answered (overrides are applied by then), and the status', async () => {
    server = serve(metrics, (req, res) => {
      // As TusRequestMiddleware does, after the observer was attached.
      if (req.method === 'POST' && req.headers['x-http-method-override']) req.method = 'PATCH';
      req.resume();
      res.writeHead(req.method === 'PATCH' ? 409 : 201).end();
    }).server;
    const port = await listen(server);
    await send(port, 'POST', { 'x-http-method-override': 'PATCH', 'content-length': '3' }, [Buffer.from('abc')]);
    await send(port, 'POST', {}, []);
    expect(await sample(registry, 'tus_requests_total', { method: 'PATCH', status: '409' })).toBe(1);
    expect(await sample(registry, 'tus_requests_total', { method: 'POST', status: '201' })).toBe(1);
    expect(await sample(registry, 'tus_received_bytes_total')).toBe(3);
  });

  it('records a request whose client went away before the answer as aborted', async () => {
    let closed!: () => void;
    const done = new Promise<void>((resolve) => (closed = resolve));
    server = serve(metrics, (_req, res) => {
      res.once('close', () => setImmediate(closed));
    }).server;
    const port = await listen(server);
    const req = request({
      host: '127.0.0.1',
      port,
      method: 'PATCH',
      headers: { 'content-length': '100' },
      agent: false,
    });
    req.on('error', () => undefined);
    req.write(Buffer.alloc(40));
    await new Promise((resolve) => setTimeout(resolve, 100));
    req.destroy();
    await done;
    expect(await sample(registry, 'tus_requests_total', { method: 'PATCH', status: 'aborted' })).toBe(1);
    expect(await sample(registry, 'tus_received_bytes_total')).toBe(40);
  });
});
