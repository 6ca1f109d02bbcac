import { randomBytes } from 'node:crypto';
import { Socket } from 'node:net';
import { AbortMultipartUploadCommand, DeleteObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { exchange, openSocket, RawAnswer, readAnswer, requestHead } from './support/raw-socket';
import { b64, startTestApp, TestApp } from './support/test-app';

/**
 * Hostile input by the hundreds (issue 11): systematically generated requests (hostile header values × methods ×
 * target kinds, method-override tricks, odd ids, repeated and oversized headers, truncated, trickling and badly framed
 * bodies) against a running app on the real S3. For every request:
 * - the answer is a status below 500 (a refused request is a 4xx), within 5 s (a timeout is a failure);
 * - on an existing unfinished upload, the offset (HEAD, after every request) never moves on a refused request, and an
 *   accepted write moves it by at most the bytes sent, which are then part of the model of its content;
 * - the uploads' bytes stay intact: each unfinished upload is completed and read back (GET and S3) when it retires,
 *   each finished one is read back at the end, and a missing id never gets an object.
 * Requests run 8 at once, but those on one existing upload run one after another ("lanes"), so the offset checks are
 * not racy. A one-line summary (requests by status class) is printed at the end.
 */

const OCTET = 'application/offset+octet-stream';
const TIMEOUT_MS = 5000;
const PARALLEL = 8;
const MOUNT = '/files';

type Target = 'collection' | 'unfinished' | 'deferred' | 'finished' | 'missing';
const TARGETS: readonly Target[] = ['collection', 'unfinished', 'deferred', 'finished', 'missing'];
type LaneKind = 'unfinished' | 'deferred' | 'finished';
const isLaneKind = (target: Target): target is LaneKind =>
  target === 'unfinished' || target === 'deferred' || target === 'finished';

type Headers = Array<[string, string]>;
/** Hostile headers: each replaces the baseline header of its name; `null` removes it. */
type HeaderChanges = Array<[string, string | null]>;

/** Where a probe goes, and what the client knows of the upload there. */
interface Ctx {
  target: Target;
  /** The target's path: the collection, or the upload's. */
  path: string;
  /** The upload's id ('' for the collection). */
  id: string;
  offset: number;
  size: number | null;
}

/** What the app under test offers to the probes besides their target. */
interface World {
  t: TestApp;
  /** A finished partial upload (8 bytes) and an unfinished one, for Upload-Concat. */
  partialDone: string;
  partialOpen: string;
  /** A well-formed id that no upload has. */
  missingId: string;
}

interface Sent {
  answer: RawAnswer;
  /** Body bytes the server may have stored, in order, when the request may write. */
  data: Buffer;
  mayWrite: boolean;
  mayTerminate: boolean;
  /** The client closed first: no answer is expected. */
  answerOptional?: boolean;
  /** The server may still be working on it when we see the answer (client went away, Node's own 400). */
  unsettled?: boolean;
  problems?: string[];
  /** The Upload-Offset sent (repeats joined with ", "): an accepted write must have named the offset exactly. */
  offsetSent?: string;
  /** Requests sent to check the probe (not counted as probes). */
  checks?: number;
}

interface Probe {
  label: string;
  target: Target;
  send(ctx: Ctx, world: World): Promise<Sent>;
}

// ---------------------------------------------------------------------------------------------------------------
// statistics and small helpers

interface Stats {
  probes: number;
  checks: number;
  byClass: Record<string, number>;
  noAnswer: number;
  timeouts: number;
  replaced: number;
  /** Bytes kept by a PATCH whose body broke after the handler started, answered 400 by Node itself. */
  keptAfterNode400: number;
  ms: number;
}

function newStats(): Stats {
  return {
    probes: 0,
    checks: 0,
    byClass: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 },
    noAnswer: 0,
    timeouts: 0,
    replaced: 0,
    keptAfterNode400: 0,
    ms: 0,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const short = (text: string) => (text.length > 90 ? `${text.slice(0, 60)}…(${text.length})` : text);
const letters = (n: number) => Buffer.from(Array.from(randomBytes(n), (b) => 97 + (b % 26)));

async function pool(tasks: Array<() => Promise<void>>, limit: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < tasks.length) await tasks[next++]();
    }),
  );
}

/** The method the router sees: X-HTTP-Method-Override applies on POST only; Node joins repeats with ", ". */
function effectiveMethod(method: string, headers: Headers): string {
  const overrides = headers
    .filter(([name]) => name.toLowerCase() === 'x-http-method-override')
    .map(([, value]) => value.trim());
  return method === 'POST' && overrides.length > 0 ? overrides.join(', ').toUpperCase() : method;
}

function offsetOf(headers: Headers): string | undefined {
  const values = headers
    .filter(([name]) => name.toLowerCase() === 'upload-offset')
    .map(([, value]) => value.replace(/^[ \t]+|[ \t]+$/g, ''));
  return values.length === 0 ? undefined : values.join(', ');
}

/** A request on a fresh connection, with the answer bounded by TIMEOUT_MS. */
function rawCall(world: World, method: string, path: string, headers: Headers, body?: Buffer | string) {
  return exchange(world.t.origin, { method, path, headers, body, timeoutMs: TIMEOUT_MS });
}

// ---------------------------------------------------------------------------------------------------------------
// probes

interface Shape {
  method: string;
  set?: (ctx: Ctx, world: World) => HeaderChanges;
  /** Appended after the baseline (for repeated headers). */
  add?: (ctx: Ctx, world: World) => Headers;
  path?: (ctx: Ctx, world: World) => string;
  /** Send a 4-byte body (with Content-Length) even where the baseline has none (POST on the collection). */
  withBody?: boolean;
}

/** A well-formed request of `method` for the target, before the hostile part is applied. */
function baseline(method: string, ctx: Ctx, withBody: boolean): { headers: Headers; body?: Buffer } {
  const headers: Headers = [['Tus-Resumable', '1.0.0']];
  let body: Buffer | undefined;
  if (method === 'POST' && ctx.target === 'collection') {
    headers.push(['Upload-Length', '16']);
    if (withBody) {
      headers.push(['Content-Type', OCTET]);
      body = letters(4);
    }
  } else if (method === 'PATCH' || method === 'POST') {
    // POST on an upload carries a PATCH, so that X-HTTP-Method-Override: PATCH makes it a valid one.
    headers.push(['Content-Type', OCTET], ['Upload-Offset', String(ctx.offset)]);
    body = letters(4);
  }
  if (body) headers.push(['Content-Length', String(body.length)]);
  return { headers, body };
}

function applyChanges(headers: Headers, changes: HeaderChanges): Headers {
  let result = headers;
  for (const [name, value] of changes) {
    result = result.filter(([n]) => n.toLowerCase() !== name.toLowerCase());
    if (value !== null) result = [...result, [name, value]];
  }
  return result;
}

function probe(label: string, target: Target, shape: Shape): Probe {
  return {
    label: `${shape.method} ${target}: ${label}`,
    target,
    async send(ctx, world) {
      const base = baseline(shape.method, ctx, shape.withBody ?? false);
      const headers = [
        ...applyChanges(base.headers, shape.set?.(ctx, world) ?? []),
        ...(shape.add?.(ctx, world) ?? []),
      ];
      const path = shape.path?.(ctx, world) ?? ctx.path;
      const answer = await rawCall(world, shape.method, path, headers, base.body);
      const method = effectiveMethod(shape.method, headers);
      return {
        answer,
        data: base.body ?? Buffer.alloc(0),
        mayWrite: method === 'PATCH' && base.body !== undefined,
        mayTerminate: method === 'DELETE',
        offsetSent: offsetOf(headers),
      };
    },
  };
}

/** One probe per method and target kind for each hostile case. */
function product(
  cases: Array<[string, Omit<Shape, 'method'>]>,
  methods: readonly string[],
  targets: readonly Target[] = TARGETS,
): Probe[] {
  const probes: Probe[] = [];
  for (const [label, shape] of cases)
    for (const method of methods) for (const target of targets) probes.push(probe(label, target, { ...shape, method }));
  return probes;
}

const setOne =
  (name: string, value: (ctx: Ctx, world: World) => string | null) =>
  (ctx: Ctx, world: World): HeaderChanges => [[name, value(ctx, world)]];

/** A request written byte by byte: the caller decides the framing of the body. */
interface RawShape {
  method: string;
  headers: (ctx: Ctx) => Headers;
  body: string | Buffer;
  /** Bytes of the body a server could store (the chunk data of a chunked body). */
  data: Buffer;
  then?: 'wait' | 'half-close' | 'abort';
  unsettled?: boolean;
}

function rawProbe(label: string, target: Target, shape: RawShape): Probe {
  return {
    label: `${shape.method} ${target}: ${label}`,
    target,
    async send(ctx, world) {
      const headers = shape.headers(ctx);
      const answer = await exchange(world.t.origin, {
        method: shape.method,
        path: ctx.path,
        headers,
        body: shape.body,
        then: shape.then,
        abortAfterMs: 80,
        timeoutMs: TIMEOUT_MS,
      });
      const method = effectiveMethod(shape.method, headers);
      return {
        answer,
        data: shape.data,
        mayWrite: method === 'PATCH' || (method === 'POST' && ctx.target === 'collection'),
        mayTerminate: false,
        answerOptional: shape.then === 'abort',
        unsettled: shape.unsettled ?? false,
        offsetSent: offsetOf(headers),
      };
    },
  };
}

/**
 * A body that trickles a few bytes and then stalls with the socket open. On an existing upload, a HEAD sent meanwhile
 * must be answered within 5 s (the stalled request is asked to let go, and keeps what arrived), and the PATCH answered
 * soon after; then the client goes away.
 */
function trickleProbe(target: Target): Probe {
  return {
    label: `${target === 'collection' ? 'POST' : 'PATCH'} ${target}: body trickles 6 of 40 bytes, then stalls`,
    target,
    async send(ctx, world) {
      const data = letters(6);
      const headers: Headers =
        target === 'collection'
          ? [
              ['Tus-Resumable', '1.0.0'],
              ['Upload-Length', '64'],
              ['Content-Type', OCTET],
              ['Content-Length', '40'],
            ]
          : [
              ['Tus-Resumable', '1.0.0'],
              ['Upload-Offset', String(ctx.offset)],
              ['Content-Type', OCTET],
              ['Content-Length', '40'],
            ];
      const socket: Socket = await openSocket(world.t.origin);
      socket.on('error', () => undefined);
      const answer = readAnswer(socket, false, 10_000);
      socket.write(
        requestHead(new URL(world.t.origin).host, {
          method: target === 'collection' ? 'POST' : 'PATCH',
          path: ctx.path,
          headers,
        }),
      );
      for (let i = 0; i < 3; i++) {
        socket.write(data.subarray(i * 2, i * 2 + 2));
        await sleep(120);
      }
      const problems: string[] = [];
      let checks = 0;
      if (isLaneKind(target)) {
        checks++;
        const head = await rawCall(world, 'HEAD', ctx.path, [['Tus-Resumable', '1.0.0']]);
        const offset = Number(head.headers['upload-offset']);
        if (head.outcome !== 'answered')
          problems.push(`HEAD during the stalled PATCH: ${head.outcome} after ${head.ms} ms`);
        else if (head.status !== 200) problems.push(`HEAD during the stalled PATCH: ${head.status}`);
        else if (!(offset >= ctx.offset && offset <= ctx.offset + data.length))
          problems.push(`HEAD during the stalled PATCH: offset ${offset}, was ${ctx.offset}`);
      }
      const early = await Promise.race([answer, sleep(isLaneKind(target) ? 3000 : 800).then(() => undefined)]);
      socket.destroy();
      return {
        answer: early ?? (await answer),
        offsetSent: String(ctx.offset),
        data,
        mayWrite: true,
        mayTerminate: false,
        answerOptional: true,
        unsettled: true,
        problems,
        checks,
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// lanes: existing uploads, probed one request at a time, with the model of their content

class Lane {
  id = '';
  path = '';
  size: number | null = null;
  content = Buffer.alloc(0);

  constructor(
    readonly kind: LaneKind,
    private readonly world: World,
    private readonly stats: Stats,
  ) {}

  ctx(): Ctx {
    return { target: this.kind, path: this.path, id: this.id, offset: this.content.length, size: this.size };
  }

  /** A fresh upload: 256 bytes with 16 sent, deferred with 16 sent, or finished with 32 bytes. */
  async open(): Promise<void> {
    const { t } = this.world;
    const data = letters(this.kind === 'finished' ? 32 : 16);
    const meta = `filename ${b64(`hostile-${this.kind}.bin`)},filetype ${b64('application/octet-stream')}`;
    const declared: Headers =
      this.kind === 'deferred'
        ? [['Upload-Defer-Length', '1']]
        : [['Upload-Length', this.kind === 'finished' ? '32' : '256']];
    const headers: Headers = [
      ['Tus-Resumable', '1.0.0'],
      ...declared,
      ['Upload-Metadata', meta],
      ['Content-Type', OCTET],
      ['Content-Length', String(data.length)],
    ];
    const created = await exchange(t.origin, { method: 'POST', path: MOUNT, headers, body: data, timeoutMs: 15_000 });
    this.stats.checks++;
    if (created.status !== 201)
      throw new Error(`creating a ${this.kind} upload answered ${created.status} ${created.body.toString()}`);
    this.path = new URL(created.headers.location).pathname;
    this.id = this.path.slice(MOUNT.length + 1);
    this.size = this.kind === 'deferred' ? null : this.kind === 'finished' ? 32 : 256;
    this.content = data;
  }

  private async head(): Promise<RawAnswer> {
    this.stats.checks++;
    return rawCall(this.world, 'HEAD', this.path, [['Tus-Resumable', '1.0.0']]);
  }

  /** HEAD; after a request the server may still be finishing, until two readings 250 ms apart agree. */
  private async state(unsettled: boolean): Promise<RawAnswer> {
    let last = await this.head();
    if (!unsettled) return last;
    for (let i = 0; i < 10; i++) {
      await sleep(250);
      const next = await this.head();
      if (next.status === last.status && next.headers['upload-offset'] === last.headers['upload-offset']) return next;
      last = next;
    }
    return last;
  }

  async run(p: Probe, problems: string[]): Promise<void> {
    const before = this.ctx();
    const sent = await p.send(before, this.world);
    this.stats.checks += sent.checks ?? 0;
    const where = `${p.label} [${this.kind} ${this.id.slice(0, 8)} at ${before.offset}]`;
    for (const problem of sent.problems ?? []) problems.push(`${where}: ${problem}`);
    // After a 5xx or a timeout the upload's state is unknown: go on with a fresh one (the failure is recorded).
    if (!record(this.stats, sent, where, problems)) return this.replace(undefined, problems);
    if (sent.answer.status === 206 || (sent.answer.status === 200 && p.label.startsWith('GET')))
      this.checkDownload(sent.answer, where, problems);
    if (this.kind === 'finished') {
      // Whatever was accepted, the finished upload must still be there (a GET carrying an override must not delete),
      // unless it was a DELETE; refused requests are covered by reading its bytes back at the end.
      const status = sent.answer.status;
      if (status === undefined || status >= 300) return;
      const state = await this.head();
      if (state.status === 404) {
        if (!(sent.mayTerminate && status === 204))
          problems.push(`${where}: the finished upload vanished (answer ${status})`);
        return this.replace(undefined, problems);
      }
      if (state.status !== 200 || state.headers['upload-offset'] !== String(this.size)) {
        return this.replace(
          `${where}: HEAD afterwards answered ${state.status}, offset ${state.headers['upload-offset']}`,
          problems,
        );
      }
      return;
    }
    const state = await this.state(sent.unsettled ?? false);
    const status = sent.answer.status;
    if (state.status === 404) {
      if (!(sent.mayTerminate && status === 204))
        problems.push(`${where}: the upload vanished (answer ${status ?? sent.answer.outcome})`);
      return this.replace(undefined, problems);
    }
    if (state.status !== 200)
      return this.replace(`${where}: HEAD afterwards answered ${state.status ?? state.outcome}`, problems);
    const offset = Number(state.headers['upload-offset']);
    const length = state.headers['upload-length'] === undefined ? null : Number(state.headers['upload-length']);
    const moved = offset - before.offset;
    const refused = status !== undefined && status >= 400;
    // A 413 for a body without Content-Length that went past the length says how much it stored (by design).
    const storedUpTo = /stored up to offset (\d+)/.exec(sent.answer.body.toString())?.[1];
    const tolerated = status === 413 && storedUpTo !== undefined && Number(storedUpTo) === offset;
    // Node answers 400 itself (no Tus-Resumable) when the framing breaks after the handler got the request: the body
    // was cut short, and like any interrupted PATCH it keeps what arrived before the break (see the report).
    const nodeOwn = status === 400 && sent.answer.headers['tus-resumable'] === undefined;
    if (moved > 0 && refused && nodeOwn) this.stats.keptAfterNode400++;
    if (moved !== 0 && refused && !tolerated && !nodeOwn)
      problems.push(`${where}: offset moved ${before.offset} -> ${offset} on a refused request (${status})`);
    if (moved < 0 || (moved > 0 && (!sent.mayWrite || moved > sent.data.length))) {
      return this.replace(
        `${where}: offset moved ${before.offset} -> ${offset} (may write: ${sent.mayWrite}, sent ${sent.data.length})`,
        problems,
      );
    }
    if (
      status === 204 &&
      sent.mayWrite &&
      sent.answer.headers['upload-offset'] !== undefined &&
      Number(sent.answer.headers['upload-offset']) !== offset
    ) {
      problems.push(`${where}: answered Upload-Offset ${sent.answer.headers['upload-offset']}, HEAD says ${offset}`);
    }
    // Only a request that named the offset exactly may write (Node trims SP/HTAB; the NBSP leniency of
    // parseNonNegativeInteger is pinned in headers.property.spec.ts, so Unicode spaces are tolerated here).
    if (moved > 0 && sent.offsetSent?.trim() !== String(before.offset)) {
      problems.push(
        `${where}: wrote ${moved} bytes at offset ${before.offset} for Upload-Offset ${JSON.stringify(sent.offsetSent)}`,
      );
    }
    this.content = Buffer.concat([this.content, sent.data.subarray(0, moved)]);
    if (length !== this.size) {
      if (this.size === null && sent.mayWrite && !refused) this.size = length;
      else
        return this.replace(`${where}: Upload-Length changed ${this.size} -> ${length} (answer ${status})`, problems);
    }
    if (this.size !== null && offset === this.size) {
      problems.push(...(await this.verify()).map((problem) => `${where}: ${problem}`));
      await this.replace(undefined, problems);
    }
  }

  /** A GET's bytes must be the upload's, whole or the range announced. */
  private checkDownload(answer: RawAnswer, where: string, problems: string[]): void {
    if (this.kind !== 'finished') {
      problems.push(`${where}: an unfinished upload was served (${answer.status})`);
      return;
    }
    if (answer.status === 200) {
      if (!answer.body.equals(this.content)) problems.push(`${where}: GET served other bytes than the upload's`);
      return;
    }
    const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(answer.headers['content-range'] ?? '');
    if (!range) {
      problems.push(`${where}: 206 without a valid Content-Range (${answer.headers['content-range']})`);
      return;
    }
    const [start, end, size] = range.slice(1).map(Number);
    if (!(start <= end && end < size && size === this.content.length))
      problems.push(`${where}: 206 with Content-Range ${answer.headers['content-range']}`);
    else if (!answer.body.equals(this.content.subarray(start, end + 1)))
      problems.push(`${where}: 206 served other bytes than the range`);
  }

  /** Completes an unfinished upload, then reads it back through GET and from S3: both must be the model. */
  async verify(): Promise<string[]> {
    const problems: string[] = [];
    const { t } = this.world;
    if (this.kind !== 'finished') {
      const rest = this.size === null ? letters(4) : letters(this.size - this.content.length);
      if (rest.length > 0) {
        const declare: Headers =
          this.size === null ? [['Upload-Length', String(this.content.length + rest.length)]] : [];
        const headers: Headers = [
          ['Tus-Resumable', '1.0.0'],
          ['Content-Type', OCTET],
          ['Upload-Offset', String(this.content.length)],
          ['Content-Length', String(rest.length)],
          ...declare,
        ];
        const done = await rawCall(this.world, 'PATCH', this.path, headers, rest);
        this.stats.checks++;
        if (done.status !== 204)
          return [`completing the upload answered ${done.status ?? done.outcome} ${done.body.toString().trim()}`];
        this.content = Buffer.concat([this.content, rest]);
        this.size = this.content.length;
      }
    }
    const got = await exchange(t.origin, { method: 'GET', path: this.path, headers: [], timeoutMs: 15_000 });
    this.stats.checks++;
    if (got.status !== 200 || !got.body.equals(this.content))
      problems.push(
        `GET of the finished upload: ${got.status}, ${got.body.length} bytes, not the ${this.content.length} sent`,
      );
    const stored = await t.s3.bytes(`${t.prefix}${this.id}`).then(
      (bytes) => (bytes.equals(this.content) ? undefined : `${bytes.length} bytes`),
      (error: Error) => error.message,
    );
    if (stored !== undefined) problems.push(`the object in S3 is not the bytes sent (${stored})`);
    return problems;
  }

  private async replace(problem: string | undefined, problems: string[]): Promise<void> {
    if (problem) problems.push(problem);
    this.stats.replaced++;
    await this.open();
  }
}

/** Counts the answer; returns false when it is a failure (a 5xx, a timeout, no answer where one was due). */
function record(stats: Stats, sent: Sent, where: string, problems: string[]): boolean {
  stats.probes++;
  const { answer } = sent;
  if (answer.outcome === 'timeout') {
    stats.timeouts++;
    problems.push(`${where}: no answer within ${TIMEOUT_MS} ms`);
    return false;
  }
  if (answer.status === undefined) {
    stats.noAnswer++;
    if (!sent.answerOptional) problems.push(`${where}: the connection closed without an answer`);
    return true;
  }
  stats.byClass[`${Math.floor(answer.status / 100)}xx`]++;
  if (answer.status >= 500) {
    problems.push(`${where}: ${answer.status} ${answer.body.toString().trim().slice(0, 100)}`);
    return false;
  }
  return true;
}

/** Runs probes: those on existing uploads one after another per lane, all of it at most PARALLEL requests at once. */
async function runBattery(probes: Probe[], lanes: Lane[], world: World, stats: Stats): Promise<string[]> {
  const problems: string[] = [];
  const started = Date.now();
  const queues = new Map<Lane, Probe[]>(lanes.map((lane) => [lane, []]));
  const stateless: Probe[] = [];
  const turn: Record<string, number> = {};
  for (const p of probes) {
    if (!isLaneKind(p.target)) {
      stateless.push(p);
      continue;
    }
    const ofKind = lanes.filter((lane) => lane.kind === p.target);
    const at = (turn[p.target] = (turn[p.target] ?? 0) + 1);
    queues.get(ofKind[at % ofKind.length])!.push(p);
  }
  const tasks: Array<() => Promise<void>> = [];
  for (const [lane, queue] of queues) {
    if (queue.length === 0) continue;
    tasks.push(async () => {
      for (const p of queue) await lane.run(p, problems);
    });
  }
  for (const p of stateless) {
    tasks.push(async () => {
      const ctx: Ctx =
        p.target === 'collection'
          ? { target: p.target, path: MOUNT, id: '', offset: 0, size: null }
          : { target: p.target, path: `${MOUNT}/${world.missingId}`, id: world.missingId, offset: 0, size: 16 };
      const sent = await p.send(ctx, world);
      stats.checks += sent.checks ?? 0;
      for (const problem of sent.problems ?? []) problems.push(`${p.label}: ${problem}`);
      record(stats, sent, p.label, problems);
    });
  }
  await pool(tasks, PARALLEL);
  stats.ms += Date.now() - started;
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// the hostile cases

const HUGE = '18446744073709551616'; // 2^64
const at = (ctx: Ctx) => ctx.offset;

function headerValueProbes(): Probe[] {
  const offsetCases: Array<[string, Omit<Shape, 'method'>]> = [
    ['no Upload-Offset', { set: setOne('Upload-Offset', () => null) }],
    ...(
      [
        ['empty', () => ''],
        ['-1', () => '-1'],
        ['+N', (c) => `+${at(c)}`],
        ['N.0', (c) => `${at(c)}.0`],
        ['hex', (c) => `0x${at(c).toString(16)}`],
        ['N+1', (c) => `${at(c) + 1}`],
        ['N-1', (c) => `${Math.max(0, at(c) - 1)}`],
        ['leading zero', (c) => `0${at(c)}`],
        ['2^64', () => HUGE],
        ['400 digits', () => '9'.repeat(400)],
        ['letters', () => 'abc'],
        ['"N, N"', (c) => `${at(c)}, ${at(c)}`],
        ['NBSP before N', (c) => `\u00a0${at(c)}`],
        ['Arabic-Indic digits', () => '\u0661\u0666'],
        ['N e0', (c) => `${at(c)}e0`],
      ] as Array<[string, (c: Ctx) => string]>
    ).map(([label, value]): [string, Omit<Shape, 'method'>] => [
      `Upload-Offset ${label}`,
      { set: setOne('Upload-Offset', value) },
    ]),
  ];
  const lengthValues: Array<[string, (c: Ctx) => string | null]> = [
    ['absent', () => null],
    ['empty', () => ''],
    ['-1', () => '-1'],
    ['0', () => '0'],
    ['1.5', () => '1.5'],
    ['2^64', () => HUGE],
    ['400 digits', () => '9'.repeat(400)],
    ['letters', () => 'abc'],
    ['= offset', (c) => String(c.offset)],
    ['= offset + 4', (c) => String(c.offset + 4)],
    ['"1, 2"', () => '1, 2'],
    ['1e3', () => '1e3'],
  ];
  const deferValues = ['', '0', '2', 'true', '1, 1', '1'];
  const conflicts: Array<[string, HeaderChanges]> = [
    [
      'Upload-Length and Upload-Defer-Length: 1',
      [
        ['Upload-Length', '16'],
        ['Upload-Defer-Length', '1'],
      ],
    ],
    [
      'neither Upload-Length nor Upload-Defer-Length',
      [
        ['Upload-Length', null],
        ['Upload-Defer-Length', null],
      ],
    ],
    [
      'Upload-Length: 0 and Upload-Defer-Length: 1',
      [
        ['Upload-Length', '0'],
        ['Upload-Defer-Length', '1'],
      ],
    ],
    [
      'Upload-Length and Upload-Defer-Length: 0',
      [
        ['Upload-Length', '16'],
        ['Upload-Defer-Length', '0'],
      ],
    ],
  ];
  const resumable: Array<string | null> = [
    null,
    '',
    '1.0',
    '0.2.2',
    '1.0.0, 1.0.0',
    '1.0.0;q=1',
    '1.0.0 1.0.0',
    '1.0.0\u00a0',
    'x'.repeat(8000),
    '1.0.0.0',
  ];
  const contentTypes: Array<string | null> = [
    null,
    '',
    `${OCTET}; charset=utf-8`,
    OCTET.toUpperCase(),
    'application/octet-stream',
    'application/json',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'text/plain',
    `${OCTET}, application/json`,
    `${OCTET}x`,
  ];
  const pairs = (n: number) => Array.from({ length: n }, (_, i) => `k${i}`).join(',');
  const metadata: string[] = [
    'a',
    ' ',
    'a b c',
    '=',
    'filename ****',
    ',',
    ',,',
    `__proto__ ${b64('x')}`,
    `constructor ${b64('x')},toString ${b64('y')}`,
    `a ${b64('x')},a ${b64('y')}`,
    `filename ${b64('a\r\nX-Injected: 1')}`,
    `filename ${b64('../../etc/passwd')}`,
    `filetype ${b64('text/html')},filename ${b64('x.html')}`,
    'f\u00efle YQ==',
    `k ${'QUJD'.repeat(3000)}`,
    `filename ${b64('\u{1F600}'.repeat(100))}`,
    'k'.repeat(12000),
    pairs(300),
  ];
  const concat: Array<[string, (c: Ctx, w: World) => string]> = [
    ['empty', () => ''],
    ['partial;', () => 'partial;'],
    ['final', () => 'final'],
    ['final;', () => 'final;'],
    ['final; ', () => 'final; '],
    ['FINAL;x', () => 'FINAL;x'],
    ['partial,final;x', () => 'partial,final;x'],
    ['final;%2e%2e', () => 'final;%2e%2e'],
    ['final;<mount>/..', () => `final;${MOUNT}/..`],
    ['final;<missing>', (_, w) => `final;${MOUNT}/${w.missingId}`],
    ['final;<unfinished partial>', (_, w) => `final;${w.partialOpen}`],
    ['final;<a non-partial upload>', (c, w) => `final;${c.id ? c.path : w.partialOpen}`],
    ['final;<partial> on another host', (_, w) => `final;http://evil.example${new URL(w.partialDone).pathname}`],
    ['final;<partial> <partial>', (_, w) => `final;${w.partialDone} ${w.partialDone}`],
    [
      'final;<partial>/../<id>',
      (_, w) => `final;${w.partialDone}/../${new URL(w.partialDone).pathname.slice(MOUNT.length + 1)}`,
    ],
    ['final; 300 missing ids', () => `final;${Array.from({ length: 300 }, (_, i) => `${MOUNT}/x${i}`).join(' ')}`],
    ['final;<partial>.info', (_, w) => `final;${w.partialDone}.info`],
  ];
  const ranges = [
    'bytes=',
    'bytes=-0',
    'bytes=5-1',
    `bytes=${Array.from({ length: 500 }, (_, i) => `${i}-${i}`).join(',')}`,
    `bytes=${HUGE}-`,
    `bytes=-${HUGE}`,
    `bytes=0-${HUGE}`,
    'bytes=-1-2',
    'bytes=--1',
    'bytes=0--1',
    'bytes=-5',
    'bytes=31-',
    'bytes=32-',
    'bytes=100-50',
    'bytes = 0-1',
    'BYTES=0-1',
    'bytes=0-0, 0-0',
    'bytes=\u00a00-1',
    'items=0-1',
  ];
  return [
    ...product(offsetCases, ['PATCH', 'POST', 'HEAD']),
    ...product(
      lengthValues.map(([label, value]) => [`Upload-Length ${label}`, { set: setOne('Upload-Length', value) }]),
      ['POST', 'PATCH'],
    ),
    ...product(
      deferValues.map((value) => [
        `Upload-Defer-Length ${JSON.stringify(value)}`,
        {
          set: () => [
            ['Upload-Length', null],
            ['Upload-Defer-Length', value],
          ],
        },
      ]),
      ['POST', 'PATCH'],
    ),
    ...product(
      conflicts.map(([label, changes]) => [label, { set: () => changes }]),
      ['POST', 'PATCH'],
    ),
    ...product(
      resumable.map((value) => [
        `Tus-Resumable ${value === null ? 'absent' : JSON.stringify(short(value))}`,
        { set: setOne('Tus-Resumable', () => value) },
      ]),
      ['POST', 'PATCH', 'HEAD', 'DELETE', 'GET', 'OPTIONS'],
    ),
    ...product(
      contentTypes.map((value) => [
        `Content-Type ${value === null ? 'absent' : JSON.stringify(value)}`,
        { set: setOne('Content-Type', () => value), withBody: true },
      ]),
      ['POST', 'PATCH'],
    ),
    ...product(
      metadata.map((value) => [
        `Upload-Metadata ${JSON.stringify(short(value))}`,
        { set: setOne('Upload-Metadata', () => value) },
      ]),
      ['POST', 'PATCH'],
    ),
    ...product(
      concat.map(([label, value]) => [
        `Upload-Concat ${label}`,
        {
          set: (c, w) => [
            ['Upload-Concat', value(c, w)],
            ...(label.startsWith('final;') ? ([['Upload-Length', null]] as HeaderChanges) : []),
          ],
        },
      ]),
      ['POST', 'PATCH'],
    ),
    ...product(
      ranges.map((value) => [`Range ${JSON.stringify(short(value))}`, { set: setOne('Range', () => value) }]),
      ['GET', 'HEAD'],
    ),
  ];
}

function overrideProbes(): Probe[] {
  const overrides: Array<[string, string[]]> = [
    ...[
      'GET',
      'HEAD',
      'DELETE',
      'OPTIONS',
      'PUT',
      'POST',
      'PATCH',
      'CONNECT',
      'TRACE',
      'delete',
      'patch',
      'GaRbAgE!',
      '__proto__',
      '',
    ].map((value): [string, string[]] => [JSON.stringify(value), [value]]),
    ['DELETE twice', ['DELETE', 'DELETE']],
    ['DELETE then GET', ['DELETE', 'GET']],
    ['GET then DELETE', ['GET', 'DELETE']],
    ['1000 characters', ['X'.repeat(1000)]],
  ];
  return product(
    overrides.map(([label, values]) => [
      `X-HTTP-Method-Override ${label}`,
      { add: () => values.map((v): [string, string] => ['X-HTTP-Method-Override', v]) },
    ]),
    ['GET', 'HEAD', 'DELETE', 'OPTIONS', 'PUT', 'POST', 'PATCH'],
  );
}

function idProbes(): Probe[] {
  /** Paths built from an existing upload's id: none may reach another object, or that upload other than as itself. */
  const derived: Array<[string, (id: string) => string]> = [
    ['<id>.info', (id) => `${id}.info`],
    ['<id>%2einfo', (id) => `${id}%2einfo`],
    ['<id>/..', (id) => `${id}/..`],
    ['<id>/../<id>', (id) => `${id}/../${id}`],
    ['<id>%2F..', (id) => `${id}%2F..`],
    ['..%2F<id>', (id) => `..%2F${id}`],
    ['%2e%2e/<id>', (id) => `%2e%2e/${id}`],
    ['./<id>', (id) => `./${id}`],
    ['<id>//', (id) => `${id}//`],
    ['/<id> (double slash before)', (id) => `/${id}`],
    ['<id>//x', (id) => `${id}//x`],
    ['<id>%00', (id) => `${id}%00`],
    ['<id>%00.info', (id) => `${id}%00.info`],
    ['<id>\\..', (id) => `${id}\\..`],
    ['<id>%5c..', (id) => `${id}%5c..`],
    ['<id>/', (id) => `${id}/`],
    ['<id>?x=..', (id) => `${id}?x=..`],
    ['<id>%23', (id) => `${id}%23`],
    ['<id>.chunk.0.x', (id) => `${id}.chunk.0.x`],
    ['<id>%2Fx', (id) => `${id}%2Fx`],
    ['<ID> (upper case)', (id) => id.toUpperCase()],
    ['<id>%20', (id) => `${id}%20`],
    ['<id>;x', (id) => `${id};x`],
    ['<id> 600 characters', (id) => id + 'a'.repeat(600 - id.length)],
  ];
  const fixed = [
    '.',
    '..',
    '%2e%2e',
    '%2E%2E',
    '%2e',
    '...',
    '%00',
    'a%00b',
    '\\',
    '%5c',
    '%5C..%5C',
    'a'.repeat(513),
    'a'.repeat(600),
    'a'.repeat(8192),
    'a//b',
    '%',
    '%zz',
    '%c0%ae%c0%ae',
    '..%2f..%2fetc%2fpasswd',
    '%u002e',
    '~',
    '*',
    '%ff',
    '%ed%a0%80',
    'a/'.repeat(300),
    'x/'.repeat(150) + 'x',
    '-',
    '_/-',
    'a%2fb',
  ];
  const probes: Probe[] = [];
  for (const [label, path] of derived) {
    for (const method of ['HEAD', 'GET', 'PATCH', 'DELETE']) {
      for (const target of ['unfinished', 'finished'] as const)
        probes.push(probe(`path ${label}`, target, { method, path: (c) => `${MOUNT}/${path(c.id)}` }));
    }
  }
  for (const id of fixed) {
    for (const method of ['HEAD', 'GET', 'PATCH', 'DELETE', 'POST', 'OPTIONS'])
      probes.push(probe(`id ${JSON.stringify(short(id))}`, 'missing', { method, path: () => `${MOUNT}/${id}` }));
  }
  return probes;
}

function oversizedProbes(): Probe[] {
  const many = (n: number, name: (i: number) => string) => (): Headers =>
    Array.from({ length: n }, (_, i): [string, string] => [name(i), 'x']);
  const cases: Array<[string, Omit<Shape, 'method'>]> = [
    ['Upload-Offset twice (same)', { add: (c) => [['Upload-Offset', String(c.offset)]] }],
    ['Upload-Offset twice (different)', { add: (c) => [['Upload-Offset', String(c.offset + 1)]] }],
    ['Upload-Length twice', { add: () => [['Upload-Length', '16']] }],
    [
      'Upload-Defer-Length twice',
      {
        set: () => [['Upload-Length', null]],
        add: () => [
          ['Upload-Defer-Length', '1'],
          ['Upload-Defer-Length', '1'],
        ],
      },
    ],
    [
      'Upload-Metadata twice',
      {
        add: () => [
          ['Upload-Metadata', `a ${b64('x')}`],
          ['Upload-Metadata', `b ${b64('y')}`],
        ],
      },
    ],
    [
      'Upload-Concat twice',
      {
        add: () => [
          ['Upload-Concat', 'partial'],
          ['Upload-Concat', 'partial'],
        ],
      },
    ],
    ['Tus-Resumable twice', { add: () => [['Tus-Resumable', '1.0.0']] }],
    ['Content-Type twice (tus first)', { add: () => [['Content-Type', 'application/json']], withBody: true }],
    [
      'Content-Type twice (JSON first)',
      { set: () => [['Content-Type', 'application/json']], add: () => [['Content-Type', OCTET]], withBody: true },
    ],
    ['Upload-Metadata 64 KiB', { set: setOne('Upload-Metadata', () => `a ${'QUJD'.repeat(16 * 1024)}`) }],
    ['Upload-Metadata 15 KiB', { set: setOne('Upload-Metadata', () => `a ${'QUJD'.repeat(3800)}`) }],
    [
      'Upload-Metadata of 10,000 pairs',
      { set: setOne('Upload-Metadata', () => Array.from({ length: 10_000 }, (_, i) => `k${i}`).join(',')) },
    ],
    [
      'Upload-Metadata of 10,000 pairs with values',
      { set: setOne('Upload-Metadata', () => Array.from({ length: 10_000 }, (_, i) => `k${i} YQ==`).join(',')) },
    ],
    ['Upload-Offset of 8 KiB digits', { set: setOne('Upload-Offset', () => '1'.repeat(8192)) }],
    ['Tus-Resumable 12 KiB', { set: setOne('Tus-Resumable', () => '1'.repeat(12 * 1024)) }],
    ['a header name of 8 KiB', { add: () => [['X'.repeat(8192), 'x']] }],
    ['a 100 KiB header', { add: () => [['X-Junk', 'j'.repeat(100 * 1024)]] }],
    ['300 junk headers', { add: many(300, (i) => `X-Junk-${i}`) }],
    ['2,100 headers (past maxHeadersCount)', { add: many(2100, (i) => `X-J${i}`) }],
    ['a NUL in a header value', { add: () => [['X-Junk', 'a\u0000b']] }],
    ['an obs-fold continuation line', { add: () => [['X-Junk', 'a\r\n folded']] }],
    ['a header without a colon', { add: () => [['X-No-Colon-Here', 'x\r\nNoColonLine']] }],
    ['Host twice', { add: () => [['Host', 'evil.example']] }],
    ['Expect: 100-continue', { add: () => [['Expect', '100-continue']] }],
    ['Expect: garbage', { add: () => [['Expect', 'garbage']] }],
    [
      'X-Forwarded-Host: evil',
      {
        add: () => [
          ['X-Forwarded-Host', 'evil.example'],
          ['X-Forwarded-Proto', 'javascript'],
        ],
      },
    ],
  ];
  return product(cases, ['POST', 'PATCH', 'HEAD']);
}

function bodyProbes(): Probe[] {
  const probes: Probe[] = [];
  for (const target of TARGETS) {
    const method = target === 'collection' ? 'POST' : 'PATCH';
    const base = (ctx: Ctx): Headers =>
      target === 'collection'
        ? [
            ['Tus-Resumable', '1.0.0'],
            ['Upload-Length', '64'],
            ['Content-Type', OCTET],
          ]
        : [
            ['Tus-Resumable', '1.0.0'],
            ['Upload-Offset', String(ctx.offset)],
            ['Content-Type', OCTET],
          ];
    const add = (
      label: string,
      extra: (ctx: Ctx) => Headers,
      body: string | Buffer,
      data: Buffer,
      then?: RawShape['then'],
      unsettled?: boolean,
    ) =>
      probes.push(
        rawProbe(label, target, {
          method,
          headers: (ctx) => [...base(ctx), ...extra(ctx)],
          body,
          data,
          then,
          unsettled: unsettled ?? then !== undefined,
        }),
      );
    const cl = (n: number | string) => (): Headers => [['Content-Length', String(n)]];
    const te =
      (...values: string[]) =>
      (): Headers =>
        values.map((v): [string, string] => ['Transfer-Encoding', v]);

    let d = letters(10);
    add('Content-Length 40, 10 bytes sent, then FIN', cl(40), d, d, 'half-close');
    d = letters(10);
    add('Content-Length 40, 10 bytes sent, then the socket closed', cl(40), d, d, 'abort');
    add('Content-Length 40, no byte sent, then the socket closed', cl(40), '', Buffer.alloc(0), 'abort');
    d = letters(4);
    add(
      'Content-Length 4 with 12 bytes sent (the rest is garbage for the next request)',
      cl(4),
      Buffer.concat([d, Buffer.from('GARBAGE!')]),
      d,
    );
    add('Content-Length 0 with 4 bytes sent', cl(0), letters(4), Buffer.alloc(0));
    // Past the length of a known-length upload (refused); a deferred one may take it (its limit is Tus-Max-Size).
    d = letters(1000);
    add('Content-Length 1000', cl(1000), d, d);
    for (const bad of ['-1', '1e3', '+4', '0x4', '4.0', '4, 4', HUGE, 'abc', ''])
      add(`Content-Length ${JSON.stringify(bad)}`, cl(bad), letters(4), Buffer.alloc(0));
    d = letters(4);
    add(
      'Content-Length twice (same)',
      () => [
        ['Content-Length', '4'],
        ['Content-Length', '4'],
      ],
      d,
      d,
    );
    add(
      'Content-Length twice (different)',
      () => [
        ['Content-Length', '4'],
        ['Content-Length', '5'],
      ],
      letters(5),
      Buffer.alloc(0),
    );
    // Node may answer 400 itself when the framing breaks mid-body, while the handler still stores what came before:
    // wait for the offset to settle where bytes may have been stored.
    const chunk = (
      label: string,
      body: (x: string) => string,
      stored: (x: Buffer) => Buffer,
      then?: RawShape['then'],
      extra = te('chunked'),
    ) => {
      // Not on a finished upload: a chunked PATCH there whose body breaks early keeps it locked (known bug, below).
      if (target === 'finished') return;
      const x = letters(4);
      add(
        `chunked: ${label}`,
        extra,
        body(x.toString('latin1')),
        stored(x),
        then,
        then !== undefined || stored(x).length > 0,
      );
    };
    const all = (x: Buffer) => x;
    const none = () => Buffer.alloc(0);
    chunk('size "zz"', (x) => `zz\r\n${x}\r\n0\r\n\r\n`, none);
    chunk('size "-1"', (x) => `-1\r\n${x}\r\n0\r\n\r\n`, none);
    chunk('size of 20 hex digits', (x) => `ffffffffffffffffffff\r\n${x}\r\n0\r\n\r\n`, none);
    chunk(
      'a chunk longer than its size',
      (x) => `3\r\n${x}xx\r\n0\r\n\r\n`,
      (x: Buffer) => x.subarray(0, 3),
    );
    chunk('a valid chunk, then size "zz"', (x) => `4\r\n${x}\r\nzz\r\n`, all);
    chunk('a valid chunk, then FIN without the last chunk', (x) => `4\r\n${x}\r\n`, all, 'half-close');
    chunk('a valid chunk, then the socket closed', (x) => `4\r\n${x}\r\n`, all, 'abort');
    chunk('a chunk extension', (x) => `4;ext=1\r\n${x}\r\n0\r\n\r\n`, all);
    chunk('no data, just the last chunk', () => '0\r\n\r\n', none);
    chunk('a trailer', (x) => `4\r\n${x}\r\n0\r\nX-Trailer: 1\r\n\r\n`, all);
    chunk('size "+4"', (x) => `+4\r\n${x}\r\n0\r\n\r\n`, none);
    chunk('size "0x4"', (x) => `0x4\r\n${x}\r\n0\r\n\r\n`, none);
    chunk('size " 4"', (x) => ` 4\r\n${x}\r\n0\r\n\r\n`, none);
    chunk('bare LF line ends', (x) => `4\n${x}\n0\n\n`, none);
    chunk(
      'Content-Length and chunked',
      (x) => `4\r\n${x}\r\n0\r\n\r\n`,
      none,
      undefined,
      () => [
        ['Content-Length', '4'],
        ['Transfer-Encoding', 'chunked'],
      ],
    );
    chunk(
      'Transfer-Encoding "chunked, identity"',
      (x) => `4\r\n${x}\r\n0\r\n\r\n`,
      none,
      undefined,
      te('chunked, identity'),
    );
    chunk('Transfer-Encoding "gzip, chunked"', (x) => `4\r\n${x}\r\n0\r\n\r\n`, all, undefined, te('gzip, chunked'));
    chunk('Transfer-Encoding "identity"', (x) => `${x}`, none, undefined, te('identity'));
    chunk('Transfer-Encoding chunked twice', (x) => `4\r\n${x}\r\n0\r\n\r\n`, all, undefined, te('chunked', 'chunked'));
    chunk(
      'a body past the upload length',
      (x) => `${(1000).toString(16)}\r\n${x}${'y'.repeat(996)}\r\n0\r\n\r\n`,
      (x: Buffer) => Buffer.concat([x, Buffer.from('y'.repeat(996))]),
    );
    probes.push(trickleProbe(target));
  }
  return probes;
}

// ---------------------------------------------------------------------------------------------------------------

async function removeEverything(t: TestApp): Promise<void> {
  const client = t.s3.client;
  const keys = await t.s3.keys(t.prefix);
  await pool(
    keys.map((key) => async () => {
      await client.send(new DeleteObjectCommand({ Bucket: t.s3.bucket, Key: key })).catch(() => undefined);
    }),
    8,
  );
  // Every creation starts a multipart upload: abort what is left, page by page, so the RGW's memory is given back.
  for (let round = 0; round < 20; round++) {
    const list = await client
      .send(new ListMultipartUploadsCommand({ Bucket: t.s3.bucket, Prefix: t.prefix }))
      .catch(() => undefined);
    const uploads = list?.Uploads ?? [];
    if (uploads.length === 0) break;
    await pool(
      uploads.map((upload) => async () => {
        const abort = new AbortMultipartUploadCommand({
          Bucket: t.s3.bucket,
          Key: upload.Key,
          UploadId: upload.UploadId,
        });
        await client.send(abort).catch(() => undefined);
      }),
      8,
    );
  }
}

/** Every probe on the first app; every second one on the app with Redis locks, to keep the suite near a minute. */
describe.each([
  ['in-memory locker', false, 1],
  ['Redlock over Redis', true, 2],
])('hostile requests, app with the %s', (name, redis, every) => {
  const sample = (probes: Probe[]) => probes.filter((_, i) => i % every === 0);
  let world: World;
  let lanes: Lane[];
  const stats = newStats();

  beforeAll(async () => {
    const t = await startTestApp({ redis });
    const missingId = randomBytes(16).toString('hex');
    const partial = async (finished: boolean) => {
      const data = letters(8);
      const headers: Headers = [
        ['Tus-Resumable', '1.0.0'],
        ['Upload-Length', '8'],
        ['Upload-Concat', 'partial'],
        ['Content-Type', OCTET],
        ['Content-Length', finished ? '8' : '4'],
      ];
      const reply = await exchange(t.origin, {
        method: 'POST',
        path: MOUNT,
        headers,
        body: finished ? data : data.subarray(0, 4),
        timeoutMs: 15_000,
      });
      if (reply.status !== 201) throw new Error(`partial upload: ${reply.status}`);
      return reply.headers.location;
    };
    world = { t, missingId, partialDone: await partial(true), partialOpen: await partial(false) };
    lanes = [
      new Lane('unfinished', world, stats),
      new Lane('unfinished', world, stats),
      new Lane('deferred', world, stats),
      new Lane('finished', world, stats),
    ];
    for (const lane of lanes) await lane.open();
  });

  afterAll(async () => {
    if (!world) return;
    const classes = Object.entries(stats.byClass)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    console.log(
      `hostile battery (${name}): ${stats.probes} requests sent: ${classes}, no answer (client closed first) ${stats.noAnswer}, ` +
        `timeouts ${stats.timeouts}; ${stats.checks} verification requests, ${stats.replaced} uploads replaced, ` +
        `${stats.keptAfterNode400} broken bodies kept their first bytes under Node's own 400; ${(stats.ms / 1000).toFixed(1)} s`,
    );
    await removeEverything(world.t);
    await world.t.close();
  });

  it('hostile tus header values × methods × targets: never a 5xx, never a hang, never a moved offset', async () => {
    expect(await runBattery(sample(headerValueProbes()), lanes, world, stats)).toEqual([]);
  });

  it('X-HTTP-Method-Override tricks on every method: only POST is overridden, nothing is deleted by a GET', async () => {
    expect(await runBattery(sample(overrideProbes()), lanes, world, stats)).toEqual([]);
  });

  it('invalid and odd ids: dots, %2e%2e, %00, backslashes, long ids, empty segments', async () => {
    expect(await runBattery(sample(idProbes()), lanes, world, stats)).toEqual([]);
  });

  it('repeated and oversized headers', async () => {
    expect(await runBattery(sample(oversizedProbes()), lanes, world, stats)).toEqual([]);
  });

  it('truncated, trickling and badly framed bodies, while 10 connections hold half-sent headers', async () => {
    const slow = await Promise.all(Array.from({ length: 10 }, () => openSocket(world.t.origin)));
    for (const socket of slow) {
      socket.on('error', () => undefined);
      socket.write(`PATCH ${MOUNT}/${world.missingId} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n`);
    }
    try {
      expect(await runBattery(sample(bodyProbes()), lanes, world, stats)).toEqual([]);
    } finally {
      for (const socket of slow) socket.destroy();
    }
  });

  it('afterwards: every upload holds exactly the bytes sent, the missing id has no object, the server still answers', async () => {
    const problems: string[] = [];
    for (const lane of lanes) problems.push(...(await lane.verify()).map((p) => `${lane.kind} ${lane.id}: ${p}`));
    expect(problems).toEqual([]);
    expect(await world.t.s3.keys(`${world.t.prefix}${world.missingId}`)).toEqual([]);
    const options = await exchange(world.t.origin, {
      method: 'OPTIONS',
      path: MOUNT,
      headers: [],
      timeoutMs: TIMEOUT_MS,
    });
    expect(options.status).toBe(204);
    expect(stats.probes).toBeGreaterThanOrEqual(500);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// What the battery found: each bug pinned down on its own, failing until the library is fixed (and kept out of the
// battery above, so that it keeps guarding everything else).

describe('regressions: what the hostile battery found once', () => {
  let t: TestApp;
  const tus: Headers = [['Tus-Resumable', '1.0.0']];

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await removeEverything(t);
    await t.close();
  });

  async function finishedUpload(): Promise<string> {
    const headers: Headers = [...tus, ['Upload-Length', '4'], ['Content-Type', OCTET], ['Content-Length', '4']];
    const created = await exchange(t.origin, { method: 'POST', path: MOUNT, headers, body: 'abcd', timeoutMs: 15_000 });
    expect(created.status).toBe(201);
    return new URL(created.headers.location).pathname;
  }

  const chunkedPatchAtTheEnd: Headers = [
    ...tus,
    ['Upload-Offset', '4'],
    ['Content-Type', OCTET],
    ['Transfer-Encoding', 'chunked'],
  ];

  it('a chunked PATCH at the end of a finished upload whose body breaks at once leaves the upload unlocked', async () => {
    const variants: Array<[string, string, 'abort' | 'half-close' | 'wait']> = [
      ['the client closes at once', '4\r\nabcd\r\n', 'abort'],
      ['the client sends FIN before any chunk', '', 'half-close'],
      ['a bogus chunk size (Node answers 400)', 'zz\r\n', 'wait'],
    ];
    const heads = await Promise.all(
      variants.map(async ([label, body, then]) => {
        const path = await finishedUpload();
        await exchange(t.origin, {
          method: 'PATCH',
          path,
          headers: chunkedPatchAtTheEnd,
          body,
          then,
          abortAfterMs: 0,
          timeoutMs: TIMEOUT_MS,
        });
        const head = await exchange(t.origin, { method: 'HEAD', path, headers: tus, timeoutMs: 10_000 });
        return `${label}: HEAD ${head.status ?? head.outcome}`;
      }),
    );
    expect(heads).toEqual(variants.map(([label]) => `${label}: HEAD 200`));
  });

  it('a chunked PATCH at the end of a finished upload that stalls before its first byte lets go when asked', async () => {
    const path = await finishedUpload();
    const socket = await openSocket(t.origin);
    socket.on('error', () => undefined);
    try {
      socket.write(requestHead(new URL(t.origin).host, { method: 'PATCH', path, headers: chunkedPatchAtTheEnd }));
      await sleep(300);
      const head = await exchange(t.origin, { method: 'HEAD', path, headers: tus, timeoutMs: 10_000 });
      expect(head.status).toBe(200);
    } finally {
      socket.destroy();
    }
  });

  it('a valid id of 401 or 512 characters is a 404, not a 503', async () => {
    const answers: string[] = [];
    for (const id of ['a'.repeat(512), `${'x/'.repeat(200)}x`]) {
      for (const method of ['HEAD', 'GET', 'DELETE']) {
        const reply = await exchange(t.origin, { method, path: `${MOUNT}/${id}`, headers: tus, timeoutMs: TIMEOUT_MS });
        answers.push(`${method} ${id.length}: ${reply.status ?? reply.outcome}`);
      }
    }
    expect(answers).toEqual(answers.map((a) => a.replace(/: .*$/, ': 404')));
  });

  it('an Upload-Metadata of 1,500 keys without values is accepted or refused with a 4xx, never a 503', async () => {
    const metadata = Array.from({ length: 1500 }, (_, i) => `k${i}`).join(',');
    const reply = await exchange(t.origin, {
      method: 'POST',
      path: MOUNT,
      headers: [...tus, ['Upload-Length', '4'], ['Upload-Metadata', metadata]],
      timeoutMs: TIMEOUT_MS,
    });
    expect(reply.status).toBeLessThan(500);
  });

  it.each([
    ['/', 'api'],
    ['/files', 'files'],
  ])(
    'Upload-Concat: final with the Location of a partial upload works with path %s and global prefix %s',
    async (path, globalPrefix) => {
      const app = await startTestApp({ path, globalPrefix });
      try {
        const base = new URL(app.endpoint).pathname;
        const headers: Headers = [
          ...tus,
          ['Upload-Length', '4'],
          ['Upload-Concat', 'partial'],
          ['Content-Type', OCTET],
          ['Content-Length', '4'],
        ];
        const partial = await exchange(app.origin, {
          method: 'POST',
          path: base,
          headers,
          body: 'abcd',
          timeoutMs: 15_000,
        });
        expect(partial.status).toBe(201);
        const final = await exchange(app.origin, {
          method: 'POST',
          path: base,
          headers: [...tus, ['Upload-Concat', `final;${partial.headers.location}`]],
          timeoutMs: 15_000,
        });
        expect({ status: final.status, body: final.body.toString().trim() }).toEqual({ status: 201, body: '' });
      } finally {
        await removeEverything(app);
        await app.close();
      }
    },
  );
});
