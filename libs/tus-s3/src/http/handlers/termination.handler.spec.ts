import { ConflictException } from '@nestjs/common';
import { TusEvents, UploadTerminatedEvent } from '../../events/tus-events';
import { TusHookRefusal, UploadRequest } from '../../hooks/tus-hooks';
import { isPublicUpload, TusHarness } from '../../testing/tus-test-harness';

describe('TerminationHandler (DELETE)', () => {
  let h: TusHarness;
  beforeAll(async () => {
    h = await TusHarness.create();
  });
  afterAll(() => h.close());
  beforeEach(() => h.reset());

  describe('with no hooks', () => {
    it('answers 204 and removes the upload: HEAD, PATCH and DELETE then answer 404', async () => {
      const upload = await h.seed({ size: 10, bytes: 'abc' });
      const res = await h.request('DELETE', h.pathOf(upload.id));
      expect(res.statusCode).toBe(204);
      expect(res.header('Tus-Resumable')).toBe('1.0.0');
      expect(res.body.length).toBe(0);
      expect(h.store.has(upload.id)).toBe(false);
      expect((await h.request('HEAD', h.pathOf(upload.id))).statusCode).toBe(404);
      const patch = await h.request('PATCH', h.pathOf(upload.id), {
        headers: { 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '3' },
        body: 'd',
      });
      expect(patch.statusCode).toBe(404);
      expect((await h.request('DELETE', h.pathOf(upload.id))).statusCode).toBe(404);
    });

    it('emits upload.terminated once, with the public Upload as it was', async () => {
      const upload = await h.seed({ size: 10, bytes: 'abc' });
      await h.request('DELETE', h.pathOf(upload.id));
      expect(h.events.names()).toEqual([TusEvents.UploadTerminated]);
      const [event] = h.events.payloadsOf<UploadTerminatedEvent>(TusEvents.UploadTerminated);
      expect(event).toBeInstanceOf(UploadTerminatedEvent);
      expect(isPublicUpload(event.upload)).toBe(true);
      expect(event.upload).toEqual(upload);
    });

    it('terminates a finished upload by default (terminateFinished: true)', async () => {
      const upload = await h.seed({ bytes: 'done' });
      expect((await h.request('DELETE', h.pathOf(upload.id))).statusCode).toBe(204);
      expect(h.store.has(upload.id)).toBe(false);
      expect((await h.request('GET', h.pathOf(upload.id))).statusCode).toBe(404);
    });

    it('answers 404 for an unknown upload, and for an id that is no upload id', async () => {
      expect((await h.request('DELETE', '/files/0123456789abcdef0123456789abcdef')).statusCode).toBe(404);
      expect((await h.request('DELETE', '/files/a.info')).statusCode).toBe(404);
    });

    it('answers 423 when the upload stays busy, and keeps it', () =>
      TusHarness.with({ lockWaitMs: 20 }, async (busy) => {
        const upload = await busy.seed({ size: 10 });
        const lock = await busy.locker.lock(upload.id);
        try {
          expect((await busy.request('DELETE', busy.pathOf(upload.id))).statusCode).toBe(423);
        } finally {
          await lock.release();
        }
        expect(busy.store.has(upload.id)).toBe(true);
      }));
  });

  it('answers 403 for a finished upload with terminateFinished: false, and keeps it', () =>
    TusHarness.with({ options: { terminateFinished: false } }, async (keeping) => {
      const finished = await keeping.seed({ bytes: 'done' });
      const res = await keeping.request('DELETE', keeping.pathOf(finished.id));
      expect(res.statusCode).toBe(403);
      expect(keeping.store.has(finished.id)).toBe(true);
      expect(keeping.events.emitted).toEqual([]);
      const unfinished = await keeping.seed({ size: 10, bytes: 'part' });
      expect((await keeping.request('DELETE', keeping.pathOf(unfinished.id))).statusCode).toBe(204);
    }));

  describe('hooks', () => {
    it('asks onUploadRequest (kind terminate), then beforeTerminate, with the stored upload', async () => {
      const calls: Array<[string, UploadRequest]> = [];
      h.reset({
        onUploadRequest: (request) => void calls.push(['onUploadRequest', request]),
        beforeTerminate: (request) => void calls.push(['beforeTerminate', request]),
      });
      const upload = await h.seed({ size: 10, bytes: 'abc' });
      await h.request('DELETE', h.pathOf(upload.id));
      expect(calls.map(([name, r]) => [name, r.kind])).toEqual([
        ['onUploadRequest', 'terminate'],
        ['beforeTerminate', 'terminate'],
      ]);
      expect(calls[1][1].upload).toEqual(upload);
    });

    it.each([
      ['a TusHookRefusal', new TusHookRefusal(403, 'legal hold'), 403, 'legal hold'],
      ['a ConflictException', new ConflictException('still in use'), 409, 'still in use'],
    ])(
      'beforeTerminate refusing with %s keeps the upload and answers the refusal',
      async (_what, refusal, status, message) => {
        h.reset({ beforeTerminate: () => Promise.reject(refusal) });
        const upload = await h.seed({ size: 10, bytes: 'abc' });
        const res = await h.request('DELETE', h.pathOf(upload.id));
        expect(res.statusCode).toBe(status);
        expect(res.text).toBe(`${message}\n`);
        expect(h.store.bytesOf(upload.id).toString()).toBe('abc');
        expect(h.events.emitted).toEqual([]);
      },
    );

    it('onUploadRequest refusing keeps the upload, and beforeTerminate is not asked', async () => {
      const beforeTerminate = jest.fn();
      h.reset({ onUploadRequest: () => Promise.reject(new TusHookRefusal(401, 'sign in')), beforeTerminate });
      const upload = await h.seed({ size: 10 });
      expect((await h.request('DELETE', h.pathOf(upload.id))).statusCode).toBe(401);
      expect(beforeTerminate).not.toHaveBeenCalled();
      expect(h.store.has(upload.id)).toBe(true);
    });

    it('beforeTerminate is not asked for a finished upload refused by terminateFinished: false', () => {
      const beforeTerminate = jest.fn();
      return TusHarness.with({ options: { terminateFinished: false }, hooks: { beforeTerminate } }, async (keeping) => {
        const upload = await keeping.seed({ bytes: 'x' });
        expect((await keeping.request('DELETE', keeping.pathOf(upload.id))).statusCode).toBe(403);
        expect(beforeTerminate).not.toHaveBeenCalled();
      });
    });
  });
});
