import { Agent, IncomingHttpHeaders, OutgoingHttpHeaders, request } from 'node:http';
import type { Payload } from '../payload';

export interface TusResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  ms: number;
}

/**
 * A minimal tus 1.0.0 client for the bench: POST to create, then PATCHes of a fixed size, over a keep-alive agent.
 * Bodies are written as zero-copy chunks of the in-memory payload, honouring backpressure, so the client costs
 * little CPU and never holds more than a socket buffer.
 */
export class TusClient {
  /**
   * `timeout`: Node's agent honours a server's `Keep-Alive: timeout=5` (dropping an idle socket a second before the
   * server does) only when it has a timeout of its own that is longer; without one it keeps idle sockets until the
   * server closes them, and now and then reuses one just as it does (a round failed on `read ECONNRESET`). On a
   * socket in use the timeout only emits an event nobody listens to.
   */
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64, timeout: 60_000 });

  constructor(
    private readonly endpoint: string,
    private readonly payload: Payload,
  ) {}

  /** Creates an upload of `size` bytes and PATCHes it in pieces of `patchSize`; returns its URL and timings. */
  async upload(size: number, patchSize: number): Promise<{ url: string; postMs: number; patchMs: number[] }> {
    const created = await this.send('POST', this.endpoint, { 'Upload-Length': size, 'Content-Length': 0 });
    expectStatus(created, 201, 'POST');
    const url = new URL(String(created.headers.location), this.endpoint).toString();
    const patchMs: number[] = [];
    for (let offset = 0; offset < size;) {
      const end = Math.min(size, offset + patchSize);
      const patched = await this.send(
        'PATCH',
        url,
        { 'Upload-Offset': offset, 'Content-Type': 'application/offset+octet-stream', 'Content-Length': end - offset },
        [offset, end],
      );
      expectStatus(patched, 204, `PATCH at ${offset}`);
      const next = Number(patched.headers['upload-offset']);
      if (next !== end) throw new Error(`PATCH at ${offset}: server says Upload-Offset ${next}, expected ${end}`);
      patchMs.push(patched.ms);
      offset = end;
    }
    return { url, postMs: created.ms, patchMs };
  }

  close(): void {
    this.agent.destroy();
  }

  private send(
    method: string,
    url: string,
    headers: OutgoingHttpHeaders,
    body?: [number, number],
  ): Promise<TusResponse> {
    const started = performance.now();
    return new Promise<TusResponse>((resolve, reject) => {
      let answered = false;
      const req = request(
        url,
        { method, agent: this.agent, headers: { 'Tus-Resumable': '1.0.0', ...headers } },
        (res) => {
          answered = true;
          const parts: Buffer[] = [];
          res.on('data', (chunk: Buffer) => parts.push(chunk));
          res.on('error', reject);
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(parts).toString('utf8'),
              ms: performance.now() - started,
            }),
          );
        },
      );
      req.on('error', reject);
      if (!body) return void req.end();
      const chunks = this.payload.chunks(body[0], body[1]);
      // Write until the socket buffer is full, continue on 'drain'; stop early if the server already answered.
      const pump = () => {
        for (;;) {
          if (answered || req.destroyed) return;
          const next = chunks.next();
          if (next.done) return void req.end();
          if (!req.write(next.value)) return void req.once('drain', pump);
        }
      };
      pump();
    });
  }
}

function expectStatus(response: TusResponse, status: number, what: string): void {
  if (response.status !== status) {
    throw new Error(`${what}: expected ${status}, got ${response.status} ${response.body.slice(0, 200)}`);
  }
}
