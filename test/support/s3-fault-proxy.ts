import { randomBytes } from 'node:crypto';
import { Agent, createServer, IncomingMessage, OutgoingHttpHeaders, request, Server, ServerResponse } from 'node:http';
import { AddressInfo, Socket } from 'node:net';
import { Transform } from 'node:stream';

/** The S3 operation of a request, told from its method and query (path-style requests, as the tests send). */
export type S3Operation =
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'UploadPartCopy'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'ListParts'
  | 'PutObject'
  | 'CopyObject'
  | 'GetObject'
  | 'HeadObject'
  | 'DeleteObject'
  | 'Other';

export function operationOf(method: string, url: string, headers: IncomingMessage['headers']): S3Operation {
  const query = new URL(url, 'http://proxy').searchParams;
  // The SDK adds `x-id=<Operation>` to some requests: it names nothing S3 acts on.
  const plain = [...query.keys()].every((name) => name === 'x-id');
  const copy = headers['x-amz-copy-source'] !== undefined;
  if (method === 'POST' && query.has('uploads')) return 'CreateMultipartUpload';
  if (method === 'POST' && query.has('uploadId')) return 'CompleteMultipartUpload';
  if (method === 'PUT' && query.has('partNumber') && query.has('uploadId'))
    return copy ? 'UploadPartCopy' : 'UploadPart';
  if (method === 'DELETE' && query.has('uploadId')) return 'AbortMultipartUpload';
  if (method === 'GET' && query.has('uploadId')) return 'ListParts';
  // A PUT with another query (e.g. ?tagging) is not an object write.
  if (method === 'PUT' && plain) return copy ? 'CopyObject' : 'PutObject';
  if (method === 'GET' && plain) return 'GetObject';
  if (method === 'HEAD') return 'HeadObject';
  if (method === 'DELETE' && plain) return 'DeleteObject';
  return 'Other';
}

/** What the proxy sees of a request when it decides whether a fault applies. */
export interface ProxiedRequest {
  operation: S3Operation;
  method: string;
  /** Path and query, as sent (`/<bucket>/<key>?…`). */
  url: string;
  /** The object key, decoded (without the bucket). */
  key: string;
}

export type Fault =
  /** An S3 error answer with its XML body: 500 InternalError, 503 SlowDown or ServiceUnavailable. */
  | { kind: 'error'; status: 500 | 503; code: 'InternalError' | 'SlowDown' | 'ServiceUnavailable' }
  /** The connection is reset before anything is forwarded: S3 never sees the request. */
  | { kind: 'reset' }
  /** `afterBytes` of the body are forwarded, then both connections are reset: S3 sees a truncated body. */
  | { kind: 'reset-mid-body'; afterBytes: number }
  /** The whole request is forwarded and S3 answers (the operation took place), but the answer is lost in a reset. */
  | { kind: 'reset-after-response' };

export const InternalError: Fault = { kind: 'error', status: 500, code: 'InternalError' };
export const SlowDown: Fault = { kind: 'error', status: 503, code: 'SlowDown' };

export interface FaultRule {
  /** Which requests the rule applies to. */
  match: (request: ProxiedRequest) => boolean;
  fault: Fault;
  /** How many requests it fails, at most (default: 1). Infinity: until removed. */
  times?: number;
  /** The share of matching requests it fails (default: 1, every one). */
  probability?: number;
}

/** A rule as programmed, with how often it fired. */
export interface ActiveRule extends FaultRule {
  fired: number;
  /** Takes the rule out. */
  remove(): void;
}

const MESSAGES: Record<string, string> = {
  InternalError: 'We encountered an internal error. Please try again.',
  SlowDown: 'Please reduce your request rate.',
  ServiceUnavailable: 'Service is unable to handle request.',
};

/**
 * A fault-injecting HTTP proxy in front of the S3 endpoint, for the fault tests: requests stream through (nothing is
 * buffered), unless a rule programmed at runtime fails them with an S3 error answer or a connection reset, or the
 * proxy is frozen (requests are held, unread, until thawed). Headers go through unchanged, `Host` included, so the
 * client's SigV4 signature stays valid. Everything injected is counted, so a test can assert its faults fired.
 */
export class S3FaultProxy {
  private readonly rules: ActiveRule[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private thawed: Promise<void> = Promise.resolve();
  private thaw_: (() => void) | undefined;
  /** Requests seen, by operation (forwarded or failed). */
  readonly seen = new Map<S3Operation, number>();
  /** Faults injected, by `<operation> <fault kind>[ <code>]`, and `<operation> frozen` for held requests. */
  readonly injected = new Map<string, number>();

  private constructor(
    private readonly server: Server,
    private readonly upstream: URL,
    readonly endpoint: string,
  ) {}

  static async start(upstream = process.env.S3_ENDPOINT): Promise<S3FaultProxy> {
    if (!upstream) throw new Error('S3_ENDPOINT is not set');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const proxy = new S3FaultProxy(server, new URL(upstream), `http://127.0.0.1:${port}`);
    server.on('connection', (socket) => {
      proxy.sockets.add(socket);
      socket.on('close', () => proxy.sockets.delete(socket));
      // Resets are injected and clients go away mid-request: once per connection, not per request on a kept one.
      socket.on('error', () => undefined);
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void proxy.handle(req, res, false));
    // Expect: 100-continue is answered here (forwarded requests get it at once, failed ones never), like S3 does.
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => void proxy.handle(req, res, true));
    return proxy;
  }

  /** Programs a fault; returns the rule, whose `fired` counts the requests it failed. */
  inject(rule: FaultRule): ActiveRule {
    const active: ActiveRule = {
      times: 1,
      probability: 1,
      ...rule,
      fired: 0,
      remove: () => {
        const index = this.rules.indexOf(active);
        if (index >= 0) this.rules.splice(index, 1);
      },
    };
    this.rules.push(active);
    return active;
  }

  /** Holds every new request until {@link thaw} (requests already forwarded go on). */
  freeze(): void {
    if (this.thaw_) return;
    this.thawed = new Promise((resolve) => (this.thaw_ = resolve));
  }

  thaw(): void {
    this.thaw_?.();
    this.thaw_ = undefined;
  }

  /** Removes every rule and thaws; the counters stay. */
  reset(): void {
    this.rules.splice(0);
    this.thaw();
  }

  count(name: string): number {
    return this.injected.get(name) ?? 0;
  }

  async close(): Promise<void> {
    this.reset();
    for (const socket of this.sockets) socket.destroy();
    this.agent.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
    const operation = operationOf(req.method ?? 'GET', req.url ?? '/', req.headers);
    const path = new URL(req.url ?? '/', 'http://proxy').pathname;
    const key = decodeURIComponent(path.split('/').slice(2).join('/'));
    const seen: ProxiedRequest = { operation, method: req.method ?? 'GET', url: req.url ?? '/', key };
    this.seen.set(operation, (this.seen.get(operation) ?? 0) + 1);

    if (this.thaw_) {
      this.count_(`${operation} frozen`);
      await this.thawed;
    }
    const rule = this.rules.find(
      (r) => r.fired < (r.times ?? 1) && r.match(seen) && Math.random() < (r.probability ?? 1),
    );
    const fault = rule?.fault;
    if (rule && fault) {
      rule.fired++;
      this.count_(`${operation} ${fault.kind}${fault.kind === 'error' ? ` ${fault.code}` : ''}`);
    }
    if (fault?.kind === 'reset') return resetSocket(req.socket);
    if (fault?.kind === 'error') return this.answerError(req, res, fault, seen, expectsContinue);
    if (expectsContinue) res.writeContinue();
    this.forward(req, res, fault);
  }

  private answerError(
    req: IncomingMessage,
    res: ServerResponse,
    fault: Extract<Fault, { kind: 'error' }>,
    seen: ProxiedRequest,
    expectsContinue: boolean,
  ): void {
    const requestId = randomBytes(8).toString('hex');
    const body =
      req.method === 'HEAD'
        ? ''
        : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${fault.code}</Code><Message>${MESSAGES[fault.code]}` +
          `</Message><Resource>${escapeXml(seen.url)}</Resource><RequestId>${requestId}</RequestId></Error>`;
    const headers: OutgoingHttpHeaders = {
      'content-type': 'application/xml',
      'content-length': Buffer.byteLength(body),
      'x-amz-request-id': requestId,
    };
    if (expectsContinue) {
      // The client waits for 100 Continue before it sends the body: it never will, so this connection is done.
      res.writeHead(fault.status, { ...headers, connection: 'close' }).end(body);
      return;
    }
    // Read the body to its end first (as S3 does), so the connection can serve the next request.
    req.resume();
    req.once('end', () => res.writeHead(fault.status, headers).end(body));
  }

  private forward(req: IncomingMessage, res: ServerResponse, fault: Fault | undefined): void {
    const headers = { ...req.headers };
    delete headers.expect; // answered here already; not signed
    const upstream = request({
      host: this.upstream.hostname,
      port: this.upstream.port,
      method: req.method,
      path: req.url,
      headers,
      agent: this.agent,
    });
    const failed = () => {
      upstream.destroy();
      resetSocket(req.socket);
    };
    upstream.on('error', failed);
    req.on('error', failed);
    upstream.on('response', (answer) => {
      if (fault?.kind === 'reset-after-response') {
        // S3 did it; read its answer to the end, then the client loses it.
        answer.resume();
        answer.once('end', () => resetSocket(req.socket));
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
      answer.pipe(res);
      answer.on('error', failed);
    });
    if (fault?.kind === 'reset-mid-body') {
      let passed = 0;
      const cut = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          const room = fault.afterBytes - passed;
          passed += chunk.length;
          if (room > chunk.length) return done(null, chunk);
          this.push(chunk.subarray(0, Math.max(room, 0)));
          // Let the forwarded bytes reach S3, then cut both connections: S3 sees a body shorter than announced.
          setTimeout(() => {
            upstream.destroy();
            resetSocket(req.socket);
          }, 50);
        },
      });
      req.pipe(cut).pipe(upstream);
      return;
    }
    req.pipe(upstream);
  }

  private count_(name: string): void {
    this.injected.set(name, (this.injected.get(name) ?? 0) + 1);
  }
}

/** A TCP reset (RST), not a clean close: the client sees ECONNRESET. */
function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  socket.resetAndDestroy();
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
