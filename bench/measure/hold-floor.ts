import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { createHash, createHmac } from 'node:crypto';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { BUCKET, MiB, Scenario, ServiceEnv } from '../config';
import type { BenchContext } from '../context';
import { startCpuMeter } from './cpu';
import { flushRgwGarbage } from './rgw-gc';

/** S3's smallest part but the last: a PATCH smaller than this cannot become a part of its own. */
const MIN_PART = 5 * MiB;
/** Bytes stored per measured round. */
const ROUND_BYTES = 64 * MiB;

/** What storing a scenario's PATCHes costs, one by one, from memory: CPU per MiB, and time per MiB. */
export interface HoldFloor {
  /** Where: S3 objects (held back in S3, or parts) or Redis values (held back in Redis). */
  in: 's3' | 'redis';
  /**
   * Whether that write is one (a) does not make: PATCHes smaller than a part are held back before they go into a
   * part, so their CPU adds to the least a tus server costs. PATCHes of a part or more are parts, which (a) stores
   * too: only their time counts (absent in results of earlier benches, which measured held PATCHes only).
   */
  held?: boolean;
  /** The bench process sending them. */
  clientMsPerMiB: number;
  /** RGW and its OSD, or Redis, storing them. */
  servicesMsPerMiB: number;
  /** Wall time per MiB of storing them one after another (absent in results of earlier benches). */
  wallMsPerMiB?: number;
}

/**
 * A tus server acknowledges a PATCH only once its bytes are stored, and a client sends its next PATCH after the
 * answer: storing each PATCH's bytes, one after another, bounds how fast an upload in several PATCHes can go, however
 * idle the cores. And bytes below S3's part minimum cannot be a part yet, so a server that keeps them where this
 * scenario says (S3 or Redis) stores each such PATCH once before its bytes go into a part: at least one more write of
 * every byte than (a) makes. This measures both at their cheapest: the scenario's PATCH-sized pieces of a buffer in
 * memory, each one PutObject or one SET sent by hand (a PutObject stands in for the UploadPart of a PATCH that is a
 * part), one after another. Undefined for uploads sent in one PATCH.
 */
export async function measureHoldFloor(
  ctx: BenchContext,
  scenario: Scenario,
  rounds = 3,
): Promise<HoldFloor | undefined> {
  if (scenario.patchSize >= scenario.size) return undefined;
  const size = scenario.patchSize;
  const held = size < MIN_PART;
  const where = held ? scenario.holdBackIn : 's3';
  const bytes = ctx.payload.contiguous(ROUND_BYTES);
  const pieces = Math.floor(ROUND_BYTES / size);
  const store = where === 's3' ? s3Store(ctx) : redisStore(ctx.env.redisUrls[0]);
  try {
    const round = async (label: string) => {
      for (let i = 0; i < pieces; i++) await store.put(`${label}-${i}`, bytes.subarray(i * size, (i + 1) * size));
    };
    await round('warm-up');
    await store.clear();
    let client = 0;
    let services = 0;
    let wall = 0;
    for (let r = 0; r < rounds; r++) {
      const meter = startCpuMeter(undefined, ctx.servicePids);
      const started = performance.now();
      await round(`round-${r}`);
      wall += performance.now() - started;
      const cpu = meter();
      client += cpu.client;
      services += cpu.services;
      await store.clear();
    }
    const mib = (rounds * pieces * size) / MiB;
    return {
      in: where,
      held,
      clientMsPerMiB: client / mib,
      servicesMsPerMiB: services / mib,
      wallMsPerMiB: wall / mib,
    };
  } finally {
    await store.close();
  }
}

interface PieceStore {
  put(name: string, data: Buffer): Promise<void>;
  /** Deletes what was put (untimed), and lets RGW free it. */
  clear(): Promise<void>;
  close(): Promise<void>;
}

/**
 * PutObjects sent by hand over a kept-alive connection: signed with SigV4 for an unsigned payload (what the AWS SDK
 * sends for the module's stream bodies), the piece written as it is. Through the SDK a 1 MiB PutObject cost the
 * client 1.8 ms of CPU here (1.1 ms of it for any request, in its middleware), by hand 0.5: a floor must not count a
 * client's overhead.
 */
function s3Store(ctx: BenchContext): PieceStore {
  const endpoint = new URL(ctx.env.endpoint);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const keys: string[] = [];
  return {
    put: async (name, data) => {
      const key = `${ctx.runPrefix}hold/${name}`;
      const path = `/${BUCKET}/${key.split('/').map(encodeURIComponent).join('/')}`;
      const headers = signedPutHeaders(ctx.env, endpoint.host, path, data.length);
      await new Promise<void>((resolve, reject) => {
        const req = request(
          { host: endpoint.hostname, port: endpoint.port, method: 'PUT', path, headers, agent },
          (res) => {
            res.resume();
            res.on('end', () =>
              res.statusCode === 200 ? resolve() : reject(new Error(`PUT ${key}: HTTP ${res.statusCode}`)),
            );
          },
        );
        req.on('error', reject);
        req.end(data);
      });
      keys.push(key);
    },
    clear: async () => {
      for (const Key of keys.splice(0)) await ctx.unsignedS3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key }));
      await flushRgwGarbage();
    },
    close: async () => agent.destroy(),
  };
}

/** SigV4 headers of a path-style PUT with an unsigned payload (AWS's "Signature Version 4" steps, nothing more). */
function signedPutHeaders(env: ServiceEnv, host: string, path: string, length: number): Record<string, string> {
  const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
  const day = amzDate.slice(0, 8);
  const payload = 'UNSIGNED-PAYLOAD';
  const canonical = [
    'PUT',
    path,
    '',
    `content-length:${length}`,
    `host:${host}`,
    `x-amz-content-sha256:${payload}`,
    `x-amz-date:${amzDate}`,
    '',
    'content-length;host;x-amz-content-sha256;x-amz-date',
    payload,
  ].join('\n');
  const scope = `${day}/${env.region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${env.secretAccessKey}`, day), env.region), 's3'), 'aws4_request');
  const signature = createHmac('sha256', signingKey).update(toSign).digest('hex');
  return {
    'content-length': String(length),
    'x-amz-content-sha256': payload,
    'x-amz-date': amzDate,
    authorization: `AWS4-HMAC-SHA256 Credential=${env.accessKeyId}/${scope}, SignedHeaders=content-length;host;x-amz-content-sha256;x-amz-date, Signature=${signature}`,
  };
}

/**
 * SETs written straight to a socket as RESP, the value's bytes as they are (no client library, no copy): the
 * cheapest way known to put a PATCH into Redis, so that the floor does not count a client's overhead.
 */
function redisStore(url: string): PieceStore {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port || 6379) });
  socket.setNoDelay(true);
  const connected = once(socket, 'connect');
  const replies: Array<(line: string) => void> = [];
  let pending = '';
  socket.on('data', (data: Buffer) => {
    pending += data.toString('latin1');
    for (let end = pending.indexOf('\r\n'); end >= 0; end = pending.indexOf('\r\n')) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 2);
      replies.shift()?.(line);
    }
  });
  const command = async (head: string, value?: Buffer): Promise<void> => {
    await connected;
    const reply = new Promise<string>((resolve) => replies.push(resolve));
    socket.cork();
    socket.write(head, 'latin1');
    if (value) socket.write(value);
    if (value) socket.write('\r\n');
    socket.uncork();
    const line = await reply;
    if (line.startsWith('-')) throw new Error(`Redis: ${line.slice(1)}`);
  };
  const keys: string[] = [];
  return {
    put: async (name, data) => {
      const key = `bench-hold:${name}`;
      await command(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${data.length}\r\n`, data);
      keys.push(key);
    },
    clear: async () => {
      for (const key of keys.splice(0)) await command(`*2\r\n$3\r\nDEL\r\n$${key.length}\r\n${key}\r\n`);
    },
    close: async () => {
      socket.end();
      await once(socket, 'close');
    },
  };
}
