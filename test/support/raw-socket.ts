import { connect, Socket } from 'node:net';

/**
 * HTTP/1.1 over a bare socket, for requests node:http refuses to send: repeated headers, any bytes in a header, bodies
 * that are shorter than their Content-Length, chunked framing with bogus sizes, raw paths. Every exchange is bounded
 * in time, so that a server that never answers shows up as `timeout` rather than a hung test.
 */

export interface RawAnswer {
  /** `answered`: a final status line arrived; `closed`: the connection ended without one; `timeout`: nothing in time. */
  outcome: 'answered' | 'closed' | 'timeout';
  status?: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  ms: number;
}

export interface RawRequest {
  method: string;
  /** Sent verbatim in the request line. */
  path: string;
  /** Sent verbatim and in order (repeats allowed). Host and Connection: close are added unless given. */
  headers: Array<[string, string]>;
  /** Written verbatim after the head: the caller frames it (Content-Length, chunked...). */
  body?: Buffer | string;
  /**
   * After writing: `wait` for the answer (default); `half-close` (send FIN, as a client that gave up writing) then
   * wait; `abort` (close the socket `abortAfterMs` later, without waiting for an answer).
   */
  then?: 'wait' | 'half-close' | 'abort';
  abortAfterMs?: number;
  timeoutMs?: number;
}

/** Header values and paths go out as Latin-1 when they fit (so "\xA0" is one byte, as obs-text), else as UTF-8. */
function encode(text: string): Buffer {
  const latin1 = Array.from(text).every((c) => c.charCodeAt(0) <= 0xff);
  return latin1 ? Buffer.from(text, 'latin1') : Buffer.from(text, 'utf8');
}

export function requestHead(host: string, req: Pick<RawRequest, 'method' | 'path' | 'headers'>): Buffer {
  const names = new Set(req.headers.map(([name]) => name.toLowerCase()));
  const lines = [`${req.method} ${req.path} HTTP/1.1`];
  if (!names.has('host')) lines.push(`Host: ${host}`);
  if (!names.has('connection')) lines.push('Connection: close');
  for (const [name, value] of req.headers) lines.push(`${name}: ${value}`);
  return Buffer.concat(lines.map((line) => encode(`${line}\r\n`)).concat(Buffer.from('\r\n')));
}

/** Reads one answer from a socket (skipping 1xx interim answers); resolves once it is complete, closed, or late. */
export function readAnswer(
  socket: Socket,
  isHead: boolean,
  timeoutMs: number,
  started = Date.now(),
): Promise<RawAnswer> {
  return new Promise((resolve) => {
    let received = Buffer.alloc(0);
    let settled = false;
    let parsed: { status: number; headers: Record<string, string>; bodyStart: number; length?: number } | undefined;
    const finish = (outcome: RawAnswer['outcome']) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      const body = parsed ? received.subarray(parsed.bodyStart) : Buffer.alloc(0);
      resolve({
        outcome: parsed ? 'answered' : outcome,
        status: parsed?.status,
        headers: parsed?.headers ?? {},
        body: parsed?.length !== undefined ? body.subarray(0, parsed.length) : body,
        ms: Date.now() - started,
      });
      if (outcome !== 'answered') socket.destroy();
    };
    const tryParse = () => {
      for (;;) {
        if (!parsed) {
          const end = received.indexOf('\r\n\r\n');
          if (end < 0) return;
          const lines = received.subarray(0, end).toString('latin1').split('\r\n');
          const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1] ?? NaN);
          if (Number.isNaN(status)) return finish('closed');
          if (status >= 100 && status < 200 && status !== 101) {
            received = received.subarray(end + 4); // 100 Continue and friends: the real answer follows
            continue;
          }
          const headers: Record<string, string> = {};
          for (const line of lines.slice(1)) {
            const colon = line.indexOf(':');
            const name = line.slice(0, colon).trim().toLowerCase();
            const value = line.slice(colon + 1).trim();
            headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
          }
          const declared = headers['content-length'];
          const noBody = isHead || status === 204 || status === 304;
          parsed = {
            status,
            headers,
            bodyStart: end + 4,
            length: noBody ? 0 : declared !== undefined ? Number(declared) : undefined,
          };
        }
        if (parsed.length !== undefined && received.length - parsed.bodyStart >= parsed.length)
          return finish('answered');
        return;
      }
    };
    const onData = (data: Buffer) => {
      received = Buffer.concat([received, data]);
      tryParse();
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.on('data', onData);
    socket.once('close', () => finish('closed'));
    socket.on('error', () => undefined);
  });
}

export function openSocket(origin: string): Promise<Socket> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => resolve(socket)).once('error', reject);
  });
}

/** One request on a fresh connection; see {@link RawRequest}. Never rejects: a refused connection is `closed`. */
export async function exchange(origin: string, req: RawRequest): Promise<RawAnswer> {
  const started = Date.now();
  const timeoutMs = req.timeoutMs ?? 5000;
  let socket: Socket;
  try {
    socket = await openSocket(origin);
  } catch {
    return { outcome: 'closed', headers: {}, body: Buffer.alloc(0), ms: Date.now() - started };
  }
  socket.on('error', () => undefined);
  const answer = readAnswer(socket, req.method === 'HEAD', timeoutMs, started);
  const body = req.body === undefined ? Buffer.alloc(0) : typeof req.body === 'string' ? encode(req.body) : req.body;
  socket.write(Buffer.concat([requestHead(new URL(origin).host, req), body]));
  if (req.then === 'half-close') socket.end();
  if (req.then === 'abort') {
    await new Promise((resolve) => setTimeout(resolve, req.abortAfterMs ?? 50));
    socket.destroy();
  }
  const result = await answer;
  socket.destroy();
  return result;
}
