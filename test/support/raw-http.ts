import { IncomingHttpHeaders, request } from 'node:http';
import { connect, Socket } from 'node:net';

export type HeaderMap = Record<string, string | number | undefined>;

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** A response header by (case-insensitive) name, joined when repeated. */
  get(name: string): string | undefined;
}

/**
 * One HTTP request on a fresh connection. `Tus-Resumable: 1.0.0` is sent unless the headers set it to undefined.
 * A Buffer/string body gets a Content-Length (unless one is given); an array of Buffers is sent chunked.
 * `url` is used verbatim (no normalization of `..` or `%2e`), so it may carry raw paths.
 */
export function call(
  method: string,
  url: string,
  headers: HeaderMap = {},
  body?: Buffer | string | Buffer[],
): Promise<Reply> {
  const match = /^http:\/\/([^/:]+):(\d+)(\/.*)?$/.exec(url);
  if (!match) throw new Error(`not an http URL: ${url}`);
  const merged: HeaderMap = { 'tus-resumable': '1.0.0' };
  for (const [name, value] of Object.entries(headers)) merged[name.toLowerCase()] = value;
  const outgoing: Record<string, string> = {};
  for (const [name, value] of Object.entries(merged)) if (value !== undefined) outgoing[name] = String(value);
  const chunked = Array.isArray(body);
  if (body !== undefined && !chunked && outgoing['content-length'] === undefined) {
    outgoing['content-length'] = String(Buffer.byteLength(body));
  }
  if (chunked) outgoing['transfer-encoding'] = 'chunked';

  return new Promise<Reply>((resolve, reject) => {
    let answered = false;
    const req = request(
      { host: match[1], port: Number(match[2]), path: match[3] ?? '/', method, headers: outgoing, agent: false },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const data = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: data,
            text: data.toString('utf8'),
            get: (name) => {
              const value = res.headers[name.toLowerCase()];
              return Array.isArray(value) ? value.join(', ') : value;
            },
          });
        });
      },
    );
    // A server that refuses a body may close the connection while we still write it; the answer is what counts.
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    if (chunked) {
      for (const chunk of body) req.write(chunk);
      req.end();
    } else {
      req.end(body);
    }
  });
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** `call` without the default Tus-Resumable header: exactly the headers given. */
export async function rawRequest(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<RawResponse> {
  const reply = await call(method, url, { 'tus-resumable': undefined, ...headers }, body);
  return { status: reply.status, headers: reply.headers, body: reply.text };
}

/**
 * A PATCH whose client stalls: headers and the first `sent` bytes go out, then nothing more, and the socket stays
 * open, as with a phone that lost its network mid-upload.
 */
export async function stalledPatch(url: string, offset: number, declaredLength: number, sent: Buffer): Promise<Socket> {
  const { hostname, port, pathname } = new URL(url);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => undefined);
  socket.write(
    `PATCH ${pathname} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nTus-Resumable: 1.0.0\r\n` +
      `Content-Type: application/offset+octet-stream\r\nUpload-Offset: ${offset}\r\nContent-Length: ${declaredLength}\r\n\r\n`,
  );
  await new Promise<void>((resolve) => socket.write(sent, () => resolve()));
  return socket;
}

export const TUS = { 'Tus-Resumable': '1.0.0' } as const;

export async function createUpload(endpoint: string, size: number): Promise<string> {
  const res = await rawRequest(endpoint, 'POST', { ...TUS, 'Upload-Length': String(size) });
  if (res.status !== 201) throw new Error(`POST answered ${res.status}: ${res.body}`);
  return res.headers.location as string;
}

export async function headOffset(url: string): Promise<RawResponse & { offset: number }> {
  const res = await rawRequest(url, 'HEAD', { ...TUS });
  return { ...res, offset: Number(res.headers['upload-offset']) };
}

export function patch(url: string, offset: number, body: Buffer): Promise<RawResponse> {
  return rawRequest(
    url,
    'PATCH',
    {
      ...TUS,
      'Content-Type': 'application/offset+octet-stream',
      'Upload-Offset': String(offset),
      'Content-Length': String(body.length),
    },
    body,
  );
}
