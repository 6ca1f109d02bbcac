import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import { FakeRequest, FakeResponse } from '../testing/http-doubles';
import { TUS_HEADERS, TusHarness } from '../testing/tus-test-harness';
import { resolveOptions, TusS3ModuleOptions } from '../tus-s3.options';
import { shieldFromBodyParsers } from './body-parser-shield';
import { TusRequestMiddleware } from './tus-request.middleware';

describe('TusRequestMiddleware', () => {
  const middleware = (options: Partial<TusS3ModuleOptions> = {}) =>
    new TusRequestMiddleware(resolveOptions({ bucket: 'test-bucket', ...options }));

  function run(mw: TusRequestMiddleware, method: string, headers: Record<string, string>, url = '/files') {
    const req = new FakeRequest({ method, url, headers });
    const res = new FakeResponse();
    const next = jest.fn();
    mw.use(req.asTusRequest, res as never, next);
    return { req, res, next };
  }

  describe('X-HTTP-Method-Override', () => {
    it.each([
      ['DELETE', 'DELETE'],
      ['patch', 'PATCH'],
      ['HEAD', 'HEAD'],
    ])('turns a POST into %s (upper-cased: %s), then calls next', (override, effective) => {
      const { req, next } = run(middleware(), 'POST', { 'X-HTTP-Method-Override': override });
      expect(req.method).toBe(effective);
      expect(next).toHaveBeenCalledTimes(1);
    });

    it.each([['GET'], ['HEAD'], ['PATCH'], ['OPTIONS']])(
      'leaves a %s as it is: only a POST may be overridden',
      (method) => {
        const { req, next } = run(middleware(), method, { 'X-HTTP-Method-Override': 'DELETE' });
        expect(req.method).toBe(method);
        expect(next).toHaveBeenCalledTimes(1);
      },
    );

    it('leaves a POST without the header as a POST', () => {
      expect(run(middleware(), 'POST', {}).req.method).toBe('POST');
    });

    it('so a GET with override DELETE downloads instead of deleting', async () => {
      const h = await TusHarness.create();
      try {
        const upload = await h.seed({ bytes: 'keep me' });
        const req = new FakeRequest({
          method: 'GET',
          url: h.pathOf(upload.id),
          headers: { 'x-http-method-override': 'DELETE', ...TUS_HEADERS },
        });
        const res = new FakeResponse();
        middleware().use(
          req.asTusRequest,
          res as never,
          () => void h.router.handle(req.asTusRequest, res as never, upload.id),
        );
        await res.done;
        expect(res.statusCode).toBe(200);
        expect(res.text).toBe('keep me');
        expect(h.store.has(upload.id)).toBe(true);
      } finally {
        await h.close();
      }
    });

    it('so a POST with override DELETE terminates, and one with an unknown method gets 405', async () => {
      const h = await TusHarness.create();
      try {
        const upload = await h.seed({ size: 10 });
        for (const [override, status] of [
          ['PUT', 405],
          ['DELETE', 204],
        ] as const) {
          const req = new FakeRequest({
            method: 'POST',
            url: h.pathOf(upload.id),
            headers: { 'x-http-method-override': override, ...TUS_HEADERS },
          });
          const res = new FakeResponse();
          middleware().use(
            req.asTusRequest,
            res as never,
            () => void h.router.handle(req.asTusRequest, res as never, upload.id),
          );
          await res.done;
          expect([override, res.statusCode]).toEqual([override, status]);
        }
        expect(h.store.has(upload.id)).toBe(false);
      } finally {
        await h.close();
      }
    });
  });

  describe('CORS', () => {
    const preflight = { Origin: 'https://app.example', 'Access-Control-Request-Method': 'PATCH' };

    it('answers a preflight itself (204, every tus header allowed) without calling next', () => {
      const { res, next } = run(
        middleware({ cors: { origins: ['https://app.example'], maxAgeSeconds: 600 } }),
        'OPTIONS',
        preflight,
      );
      expect(next).not.toHaveBeenCalled();
      expect(res.statusCode).toBe(204);
      expect(res.writableEnded).toBe(true);
      expect(res.header('Access-Control-Allow-Origin')).toBe('https://app.example');
      expect(res.header('Access-Control-Allow-Methods')).toBe('POST, HEAD, PATCH, DELETE, GET, OPTIONS');
      expect(res.header('Access-Control-Allow-Headers')).toMatch(/Upload-Offset/);
      expect(res.header('Access-Control-Allow-Headers')).toMatch(/X-HTTP-Method-Override/);
      expect(res.header('Access-Control-Max-Age')).toBe('600');
      expect(res.header('Vary')).toBe('Origin');
    });

    it('lets an allowed actual request through with the headers exposed', () => {
      const { res, next } = run(middleware({ cors: { origins: '*' } }), 'PATCH', { Origin: 'https://app.example' });
      expect(next).toHaveBeenCalledTimes(1);
      expect(res.header('Access-Control-Allow-Origin')).toBe('*');
      expect(res.header('Access-Control-Expose-Headers')).toMatch(/Location/);
      expect(res.header('Access-Control-Expose-Headers')).toMatch(/Upload-Offset/);
      expect(res.header('Access-Control-Allow-Methods')).toBeUndefined();
    });

    it('adds credentials when configured', () => {
      const { res } = run(
        middleware({ cors: { origins: ['https://app.example'], credentials: true } }),
        'POST',
        preflight,
      );
      expect(res.header('Access-Control-Allow-Credentials')).toBe('true');
    });

    it('gives an unknown origin no CORS headers, and its preflight goes on to the router', () => {
      const { res, next } = run(middleware({ cors: { origins: ['https://app.example'] } }), 'OPTIONS', {
        ...preflight,
        Origin: 'https://evil.example',
      });
      expect(next).toHaveBeenCalledTimes(1);
      expect(res.header('Access-Control-Allow-Origin')).toBeUndefined();
      expect(res.header('Vary')).toBe('Origin');
    });

    it('does nothing for CORS when it is off', () => {
      const { res, next } = run(middleware(), 'OPTIONS', preflight);
      expect(next).toHaveBeenCalledTimes(1);
      expect(res.getHeaders()).toEqual({});
    });
  });

  describe('Content-Type', () => {
    it('puts back the Content-Type hidden from body parsers', () => {
      const server = new EventEmitter();
      shieldFromBodyParsers(server as Server, '/files');
      const req = new FakeRequest({
        method: 'PATCH',
        url: '/files/abc',
        headers: { 'Content-Type': 'application/offset+octet-stream' },
        open: true,
      });
      server.emit('request', req, new FakeResponse());
      expect(req.headers['content-type']).toBeUndefined();
      const next = jest.fn(() => expect(req.headers['content-type']).toBe('application/offset+octet-stream'));
      middleware().use(req.asTusRequest, new FakeResponse() as never, next);
      expect(next).toHaveBeenCalledTimes(1);
    });

    it('leaves a Content-Type alone that was never hidden', () => {
      const { req } = run(middleware(), 'PATCH', { 'Content-Type': 'application/json' });
      expect(req.headers['content-type']).toBe('application/json');
    });
  });
});
