import { request, Agent } from 'node:http';
import { connect, Socket } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const agent = new Agent({ keepAlive: false });

/**
 * One HTTP request with node:http, so that a response sent before the body was fully written (a server that
 * stopped reading) is still seen, rather than surfacing as a write error the way fetch does.
 */
export function rawRequest(url: string, method: string, headers: Record<string, string>, body?: Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
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
  return rawRequest(url, 'PATCH', {
    ...TUS,
    'Content-Type': 'application/offset+octet-stream',
    'Upload-Offset': String(offset),
    'Content-Length': String(body.length),
  }, body);
}
