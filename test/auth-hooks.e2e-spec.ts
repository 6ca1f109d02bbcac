import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  HttpException,
  Injectable,
  Module,
  UnauthorizedException,
} from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { OnEvent } from '@nestjs/event-emitter';
import {
  CreationDecision,
  CreationRequest,
  TusEvents,
  TusHookRefusal,
  TusHooks,
  UploadFinishedEvent,
  UploadRequest,
} from '@nestjs-tus/s3';
import { call, HeaderMap } from './support/raw-http';
import { b64, MiB, randomPayload, startTestApp, TestApp } from './support/test-app';
import { uploadWithTusClient } from './support/tus-client';

/**
 * A host app's authentication and authorization around the tus routes, as the README shows it: a global guard
 * (who is calling), a route guard given to the module (what the guards see), and hooks that decide per upload
 * (quota, naming, ownership, completion). Everything end to end against the real S3.
 */

const ORIGIN = 'http://app.example';
const OCTET = 'application/offset+octet-stream';
const USERS = ['alice', 'bob', 'carol'];

/** Who is calling, from `Authorization: Bearer <user>`. */
function userOf(req: IncomingMessage): string | undefined {
  const user = /^Bearer (\w+)$/.exec(req.headers.authorization ?? '')?.[1];
  return user && USERS.includes(user) ? user : undefined;
}

/** The app's global guard: every route, the tus routes included, needs a known user. */
@Injectable()
class AuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (!userOf(context.switchToHttp().getRequest<IncomingMessage>())) throw new UnauthorizedException('sign in first');
    return true;
  }
}

/** A route guard given to the module: records the method guards see (the effective one). */
@Injectable()
class MethodRecorder implements CanActivate {
  static seen: string[] = [];
  canActivate(context: ExecutionContext): boolean {
    MethodRecorder.seen.push(context.switchToHttp().getRequest<IncomingMessage>().method ?? '');
    return true;
  }
}

/** An app service the hooks depend on: resolved by DI through the module's `imports` extra. */
@Injectable()
class QuotaService {
  remaining(user: string): number {
    return user === 'carol' ? MiB : 64 * MiB;
  }
}

@Module({ providers: [QuotaService], exports: [QuotaService] })
class QuotaModule {}

@Injectable()
class UploadRules implements TusHooks {
  constructor(private readonly quota: QuotaService) {}

  beforeCreate({ req, size, metadata }: CreationRequest): CreationDecision {
    const user = userOf(req)!;
    if (metadata.explode) throw new Error('a bug in the hook');
    const remaining = this.quota.remaining(user);
    if (size !== null && size > remaining)
      throw new TusHookRefusal(507, `quota exceeded: ${user} may store ${remaining} more bytes`);
    const id = metadata.tenant ? `${metadata.tenant}/2026/11/${randomBytes(8).toString('hex')}` : undefined;
    return { id, metadata: { ...metadata, owner: user }, maxSize: remaining };
  }

  onUploadRequest({ req, upload }: UploadRequest): void {
    if (upload.metadata.owner !== userOf(req)) throw new ForbiddenException('this upload belongs to someone else');
  }

  beforeFinish({ upload }: UploadRequest): void {
    if (upload.metadata.verdict === 'reject') throw new HttpException('the file was rejected by the virus scan', 422);
  }
}

@Injectable()
class FinishedListener {
  static finished: UploadFinishedEvent[] = [];
  @OnEvent(TusEvents.UploadFinished)
  onFinished(event: UploadFinishedEvent): void {
    FinishedListener.finished.push(event);
  }
}

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({
    options: {
      cors: { origins: [ORIGIN] },
      guards: [MethodRecorder],
      hooks: UploadRules,
      imports: [QuotaModule],
    },
    providers: [{ provide: APP_GUARD, useClass: AuthGuard }, FinishedListener],
  });
});
afterAll(async () => {
  await t?.close();
});

const as = (user: string, headers: HeaderMap = {}): HeaderMap => ({ Authorization: `Bearer ${user}`, ...headers });
const metadataOf = (entries: Record<string, string>) =>
  Object.entries(entries)
    .map(([key, value]) => `${key} ${b64(value)}`)
    .join(',');

async function create(user: string, size: number, metadata: Record<string, string> = {}): Promise<string> {
  const reply = await call(
    'POST',
    t.endpoint,
    as(user, { 'Upload-Length': size, 'Upload-Metadata': metadataOf(metadata) }),
  );
  expect(reply.status).toBe(201);
  return reply.get('location')!;
}

const idIn = (url: string) => url.slice(t.endpoint.length + 1);

describe('guards', () => {
  it('answers a CORS preflight before any guard, so the browser may send the real request', async () => {
    const reply = await call('OPTIONS', t.endpoint, {
      'Tus-Resumable': undefined,
      Origin: ORIGIN,
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'authorization, tus-resumable, upload-length',
    });
    expect(reply.status).toBe(204);
    expect(reply.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(reply.get('access-control-allow-headers')).toMatch(/Authorization/);
  });

  it('refuses an unauthenticated cross-origin POST with 401 that carries CORS headers, creating nothing', async () => {
    const before = await t.s3.keys(t.prefix);
    const reply = await call('POST', t.endpoint, { Origin: ORIGIN, 'Upload-Length': 10 });
    expect(reply.status).toBe(401);
    expect(reply.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(reply.get('access-control-expose-headers')).toMatch(/Location/);
    expect(await t.s3.keys(t.prefix)).toEqual(before);
  });

  it('lets guards see the effective method: X-HTTP-Method-Override counts on POST, never on GET', async () => {
    const url = await create('alice', 10);
    MethodRecorder.seen = [];
    const got = await call('GET', url, as('alice', { 'X-HTTP-Method-Override': 'DELETE' }));
    expect(got.status).toBe(400); // a GET of an unfinished upload, not a termination
    expect((await call('HEAD', url, as('alice'))).status).toBe(200);
    const patched = await call(
      'POST',
      url,
      as('alice', { 'X-HTTP-Method-Override': 'PATCH', 'Content-Type': OCTET, 'Upload-Offset': 0 }),
      Buffer.alloc(4, 1),
    );
    expect(patched.status).toBe(204);
    expect(patched.get('upload-offset')).toBe('4');
    expect(MethodRecorder.seen).toEqual(['GET', 'HEAD', 'PATCH']);
  });
});

describe('body parsers', () => {
  it.each([
    ['valid JSON', '{"a":1}'],
    ['invalid JSON', '{"a":'],
  ])('answers a PATCH sent as application/json (%s) with the tus 415, and stores nothing', async (_, body) => {
    const url = await create('alice', 100);
    const reply = await call(
      'PATCH',
      url,
      as('alice', { 'Content-Type': 'application/json', 'Upload-Offset': 0 }),
      body,
    );
    expect(reply.status).toBe(415);
    expect(reply.get('tus-resumable')).toBe('1.0.0');
    expect(reply.get('content-type')).toMatch(/^text\/plain/);
    expect(reply.text).toMatch(/application\/offset\+octet-stream/);
    expect((await call('HEAD', url, as('alice'))).get('upload-offset')).toBe('0');
  });

  it('still lets the app parse JSON on its own routes outside the tus path', async () => {
    // The shield hides Content-Type only under the mount path: elsewhere Nest's parsers see it (a 404 here, with
    // the app's JSON error body, proves the request went through Nest's usual pipeline untouched).
    const reply = await call(
      'POST',
      `${t.origin}/not-tus`,
      as('alice', { 'Content-Type': 'application/json' }),
      '{"a":1}',
    );
    expect(reply.status).toBe(404);
    expect(reply.get('content-type')).toMatch(/application\/json/);
  });
});

describe('hooks', () => {
  it('beforeCreate refuses an over-quota upload with its own status and message, leaving nothing in S3', async () => {
    const before = await t.s3.keys(t.prefix);
    const reply = await call('POST', t.endpoint, as('carol', { 'Upload-Length': 2 * MiB }));
    expect(reply.status).toBe(507);
    expect(reply.text).toMatch(/quota exceeded: carol may store 1048576 more bytes/);
    expect(reply.get('tus-resumable')).toBe('1.0.0');
    expect(await t.s3.keys(t.prefix)).toEqual(before);
  });

  it('beforeCreate names the key: the upload lives at that URL and the final object lands at that key', async () => {
    const data = randomPayload(6 * MiB + 123);
    const url = await uploadWithTusClient(data, {
      endpoint: t.endpoint,
      headers: { Authorization: 'Bearer alice' },
      metadata: { filename: 'report.pdf', tenant: 'tenant-a' },
      chunkSize: 5 * MiB,
    });
    const id = idIn(url);
    expect(id).toMatch(/^tenant-a\/2026\/11\/[0-9a-f]{16}$/);
    expect(Buffer.compare(await t.s3.bytes(`${t.prefix}${id}`), data)).toBe(0);
    const head = await call('HEAD', url, as('alice'));
    expect(head.status).toBe(200);
    expect(head.get('upload-offset')).toBe(String(data.length));
    const finished = FinishedListener.finished.find((event) => event.upload.id === id);
    expect(finished?.object).toEqual({ bucket: 'tus-e2e', key: `${t.prefix}${id}` });
    expect(finished?.upload.metadata).toEqual({ filename: 'report.pdf', tenant: 'tenant-a', owner: 'alice' });
  });

  it('beforeCreate changes the metadata stored, and HEAD echoes what was stored', async () => {
    const url = await create('alice', 10, { filename: 'a.txt' });
    const head = await call('HEAD', url, as('alice'));
    expect(head.get('upload-metadata')).toBe(`filename ${b64('a.txt')},owner ${b64('alice')}`);
  });

  it('beforeCreate sets a size limit that a deferred-length upload keeps: its creation body and later PATCHes', async () => {
    const tooLong = await call(
      'POST',
      t.endpoint,
      as('carol', { 'Upload-Defer-Length': 1, 'Content-Type': OCTET }),
      Buffer.alloc(MiB + 1, 7),
    );
    expect(tooLong.status).toBe(413);

    const url = await call('POST', t.endpoint, as('carol', { 'Upload-Defer-Length': 1 })).then((reply) =>
      reply.get('location')!,
    );
    const declared = await call(
      'PATCH',
      url,
      as('carol', { 'Content-Type': OCTET, 'Upload-Offset': 0, 'Upload-Length': 2 * MiB }),
      '',
    );
    expect(declared.status).toBe(413);
    const past = await call(
      'PATCH',
      url,
      as('carol', { 'Content-Type': OCTET, 'Upload-Offset': 0 }),
      Buffer.alloc(MiB + 1, 7),
    );
    expect(past.status).toBe(413);
    expect((await call('HEAD', url, as('carol'))).get('upload-offset')).toBe('0');
    const fits = await call(
      'PATCH',
      url,
      as('carol', { 'Content-Type': OCTET, 'Upload-Offset': 0, 'Upload-Length': MiB }),
      Buffer.alloc(MiB, 7),
    );
    expect(fits.status).toBe(204);
    expect(fits.get('upload-offset')).toBe(String(MiB));
  });

  it('onUploadRequest enforces ownership: another user gets 403 on HEAD, PATCH, GET and DELETE, and nothing changes', async () => {
    const url = await create('alice', 100);
    expect(
      (await call('PATCH', url, as('alice', { 'Content-Type': OCTET, 'Upload-Offset': 0 }), Buffer.alloc(10, 1)))
        .status,
    ).toBe(204);
    const objects = await t.s3.keys(`${t.prefix}${idIn(url)}`);

    expect((await call('HEAD', url, as('bob'))).status).toBe(403);
    const patched = await call(
      'PATCH',
      url,
      as('bob', { 'Content-Type': OCTET, 'Upload-Offset': 10 }),
      Buffer.alloc(10, 2),
    );
    expect(patched.status).toBe(403);
    expect(patched.text).toMatch(/belongs to someone else/);
    expect((await call('GET', url, as('bob'))).status).toBe(403);
    expect((await call('DELETE', url, as('bob'))).status).toBe(403);

    const head = await call('HEAD', url, as('alice'));
    expect(head.status).toBe(200);
    expect(head.get('upload-offset')).toBe('10');
    expect(await t.s3.keys(`${t.prefix}${idIn(url)}`)).toEqual(objects);
  });

  it('a hook that throws unexpectedly is a 500 and creates nothing', async () => {
    const before = await t.s3.keys(t.prefix);
    const reply = await call(
      'POST',
      t.endpoint,
      as('alice', { 'Upload-Length': 10, 'Upload-Metadata': metadataOf({ explode: 'yes' }) }),
    );
    expect(reply.status).toBe(500);
    expect(reply.text).not.toMatch(/a bug in the hook/);
    expect(await t.s3.keys(t.prefix)).toEqual(before);
  });

  it('beforeFinish refuses completion: the client gets the refusal, the upload is gone from S3 and never announced', async () => {
    const url = await create('alice', 6 * MiB, { verdict: 'reject' });
    const id = idIn(url);
    const reply = await call(
      'PATCH',
      url,
      as('alice', { 'Content-Type': OCTET, 'Upload-Offset': 0 }),
      randomPayload(6 * MiB),
    );
    expect(reply.status).toBe(422);
    expect(reply.text).toMatch(/virus scan/);
    expect(await t.s3.keys(`${t.prefix}${id}`)).toEqual([]);
    expect(await t.s3.multipartUploads(`${t.prefix}${id}`)).toBe(0);
    expect((await call('HEAD', url, as('alice'))).status).toBe(404);
    expect(FinishedListener.finished.some((event) => event.upload.id === id)).toBe(false);
  });
});
