import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { envWithoutNpm, WatchedProcess } from './support/processes';
import { testS3Client } from './support/s3-env';
import { S3Inspector } from './support/s3-inspect';
import { MiB, TEST_BUCKET } from './support/test-app';
import { eventually } from './support/eventually';

/**
 * A process that dies between completing an upload and copying it (and announcing it) loses neither: the journal
 * says both are owed, and the next request for the upload, on a new process, delivers them. The app runs as a child
 * process (test/support/finish-crash-app.ts, through ts-node) so that it can really be SIGKILLed; it copies part by
 * part above 5 MiB, so RGW's UploadPartCopy with byte ranges is exercised too.
 */
const root = resolve(__dirname, '..');
const COPY_BUCKET = 'tus-e2e-copies';
const TUS = { 'Tus-Resumable': '1.0.0' };

interface Finished {
  id: string;
  copy?: { bucket: string; key: string };
  attempt: number;
  replayed: boolean;
}

async function startApp(
  prefix: string,
  crash: boolean,
  scanMs = 0,
): Promise<{ proc: WatchedProcess; endpoint: string }> {
  const proc = new WatchedProcess(
    `finish-crash app${crash ? ' (crashing)' : ''}`,
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', 'test/support/finish-crash-app.ts'],
    {
      cwd: root,
      env: envWithoutNpm({
        TS_NODE_PROJECT: 'test/support/tsconfig.child-app.json',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        FINISH_CRASH: crash ? '1' : '0',
        FINISH_CRASH_PREFIX: prefix,
        FINISH_CRASH_COPY_BUCKET: COPY_BUCKET,
        FINISH_CRASH_SCAN_MS: String(scanMs),
      }),
    },
  );
  const line = await proc.waitForLine((l) => l.startsWith('LISTENING '), 90_000);
  return { proc, endpoint: `http://127.0.0.1:${line.split(' ')[1]}/files` };
}

async function create(endpoint: string, size: number): Promise<string> {
  const created = await fetch(endpoint, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Length': String(size), 'Upload-Metadata': 'filename Y3Jhc2guYmlu' },
  });
  expect(created.status).toBe(201);
  return created.headers.get('location')!;
}

function patch(url: string, data: Buffer): Promise<Response> {
  return fetch(url, {
    method: 'PATCH',
    headers: { ...TUS, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
    body: data,
  });
}

function finishedLines(proc: WatchedProcess, id: string): Promise<Finished> {
  return proc
    .waitForLine((l) => l.startsWith('FINISHED ') && (JSON.parse(l.slice(9)) as Finished).id === id, 30_000)
    .then((l) => JSON.parse(l.slice(9)) as Finished);
}

describe('a finished upload survives a crash before its copy and upload.finished', () => {
  const prefix = `t-crash-${randomBytes(6).toString('hex')}/`;
  const client = testS3Client();
  const uploads = new S3Inspector(client, TEST_BUCKET);
  const copies = new S3Inspector(client, COPY_BUCKET);
  const procs: WatchedProcess[] = [];
  const ids: string[] = [];

  afterAll(async () => {
    for (const proc of procs) await proc.stop();
    for (const key of await uploads.keys(prefix))
      await client.send(new DeleteObjectCommand({ Bucket: TEST_BUCKET, Key: key }));
    for (const id of ids) await client.send(new DeleteObjectCommand({ Bucket: COPY_BUCKET, Key: `copies/${id}` }));
    client.destroy();
  });

  /**
   * The journal's announcement record once it says delivered (or after 10 s, as it is then): listeners run first, and
   * their delivery is recorded right after them.
   */
  async function recordedAnnouncement(id: string): Promise<unknown> {
    const { announce } = await eventually(
      () => uploads.info(`${prefix}${id}.info`),
      (info) => (info.announce as { due?: boolean } | undefined)?.due === false,
      10_000,
      50,
    );
    return announce;
  }

  /** Uploads `data` to an app that dies right after the store completed the upload (before its copy and event). */
  async function uploadAndCrash(data: Buffer) {
    const crashing = await startApp(prefix, true);
    procs.push(crashing.proc);
    const url = await create(crashing.endpoint, data.length);
    const id = url.split('/').pop()!;
    ids.push(id);
    await expect(patch(url, data)).rejects.toThrow();
    await crashing.proc.waitForLine((l) => l === `CRASHING ${id}`, 10_000);
    await crashing.proc.stop();
    return { crashing, url, id };
  }

  it('is copied (part by part, identical bytes) and announced once by the next process, when the upload is touched', async () => {
    const data = randomBytes(12 * MiB + 7);

    // 1. The app dies right after the store completed the upload.
    const { crashing, url, id } = await uploadAndCrash(data);

    const journal = await uploads.info(`${prefix}${id}.info`);
    expect(journal.finishedAt).toEqual(expect.any(String));
    expect(journal.announce).toEqual({
      due: true,
      attempt: 1,
      claimedAt: journal.finishedAt,
      copy: { bucket: COPY_BUCKET, key: `copies/${id}` },
    });
    expect((await uploads.bytes(`${prefix}${id}`)).equals(data)).toBe(true);
    expect(await copies.exists(`copies/${id}`)).toBe(false);

    // 2. A new process: the first request for the upload finds the announcement overdue and delivers it.
    const restarted = await startApp(prefix, false);
    procs.push(restarted.proc);
    const head = await fetch(url.replace(crashing.endpoint, restarted.endpoint), { method: 'HEAD', headers: TUS });
    expect(head.status).toBe(200);
    expect(head.headers.get('upload-offset')).toBe(String(data.length));
    const finished = await finishedLines(restarted.proc, id);
    expect(finished).toEqual({ id, copy: { bucket: COPY_BUCKET, key: `copies/${id}` }, attempt: 2, replayed: true });
    expect((await copies.bytes(`copies/${id}`)).equals(data)).toBe(true);
    const copied = await copies.head(`copies/${id}`);
    expect(copied.ContentLength).toBe(data.length);
    expect(copied.ETag).toMatch(/-3"$/); // a multipart copy: 5 + 5 + 2 MiB, by UploadPartCopy with byte ranges
    expect(await copies.multipartUploads(`copies/${id}`)).toBe(0);
    expect(await recordedAnnouncement(id)).toMatchObject({
      due: false,
      attempt: 2,
      copy: { bucket: COPY_BUCKET, key: `copies/${id}`, done: true },
    });

    // 3. Delivered: touching it again announces nothing more.
    await fetch(url.replace(crashing.endpoint, restarted.endpoint), { method: 'HEAD', headers: TUS });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(restarted.proc.output.split('\n').filter((l) => l.startsWith(`FINISHED {"id":"${id}"`))).toHaveLength(1);

    // 4. Without a crash, the instance that finished the upload delivers it itself, at once: attempt 1.
    const other = randomBytes(6 * MiB);
    const otherUrl = await create(restarted.endpoint, other.length);
    const otherId = otherUrl.split('/').pop()!;
    ids.push(otherId);
    expect((await patch(otherUrl, other)).status).toBe(204);
    expect(await finishedLines(restarted.proc, otherId)).toEqual({
      id: otherId,
      copy: { bucket: COPY_BUCKET, key: `copies/${otherId}` },
      attempt: 1,
      replayed: false,
    });
    expect((await copies.bytes(`copies/${otherId}`)).equals(other)).toBe(true);
    expect(await recordedAnnouncement(otherId)).toMatchObject({ due: false, attempt: 1 });
  });

  it('is delivered by the periodic scan of the next process even when nobody touches the upload again', async () => {
    const data = randomBytes(6 * MiB + 3);
    const { id } = await uploadAndCrash(data);
    expect(await copies.exists(`copies/${id}`)).toBe(false);

    // No request for the upload: the restarted process finds it through the index of due deliveries in Redis.
    const restarted = await startApp(prefix, false, 500);
    procs.push(restarted.proc);
    const finished = await finishedLines(restarted.proc, id);
    expect(finished).toEqual({ id, copy: { bucket: COPY_BUCKET, key: `copies/${id}` }, attempt: 2, replayed: true });
    expect((await copies.bytes(`copies/${id}`)).equals(data)).toBe(true);
    expect(await recordedAnnouncement(id)).toMatchObject({ due: false, attempt: 2 });
  });
});
