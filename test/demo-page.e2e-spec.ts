import { DEMO_AUTH, DEMO_ENV } from './support/demo-env'; // first: the demo reads the environment as it loads
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { Browser, launchChromium } from './support/chromium';
import { DemoApp, startDemoApp } from './support/demo-app';
import { call } from './support/raw-http';
import { testS3Client } from './support/s3-env';
import { S3Inspector } from './support/s3-inspect';
import { MiB } from './support/test-app';
import { idOf } from './support/tus-client';

/** What the page's `window.uppy` tells about a file (see src/public/demo.js). */
interface FileState {
  name: string;
  bytesUploaded: number;
  complete: boolean;
  paused: boolean;
  uploadUrl: string | null;
}

declare const uppy: {
  getFiles(): Array<{
    name: string;
    isPaused?: boolean;
    progress: { bytesUploaded: number | false; uploadComplete?: boolean };
    tus?: { uploadUrl?: string | null };
    response?: { uploadURL?: string };
  }>;
};

declare const document: { getElementById(id: string): { textContent: string | null } | null };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The upload page in a real browser (Debian's Chromium through playwright-core) against the demo app, the real
 * RGW and Redis: files picked at once land in S3 byte for byte, a paused upload resumes, so does one interrupted
 * by a reload, parallel uploads work, the finished list fills from /events, and the page talks to nobody else.
 * DEMO_SCREENSHOT=/some/file.png saves what the page looks like once the first files are done.
 */
describe('demo upload page in Chromium', () => {
  let demo: DemoApp;
  let browser: Browser;
  let page: Page;
  let dir: string;
  let s3: S3Inspector;
  const client = testS3Client();
  const requests: Array<{ method: string; url: string; concat?: string }> = [];
  /** Ids of the partial uploads the page created (POST with Upload-Concat: partial). */
  const partialIds: string[] = [];
  const problems: string[] = [];
  const files: Record<string, Buffer> = {
    'notes.txt': randomBytes(100 * 1024 + 7),
    'photo.raw': randomBytes(3 * MiB + 11),
    'big.bin': randomBytes(24 * MiB),
    'parallel.bin': randomBytes(6 * MiB + 5),
    'reload.bin': randomBytes(12 * MiB + 1),
  };
  const path = (name: string) => join(dir, name);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'demo-page-'));
    await Promise.all(Object.entries(files).map(([name, data]) => writeFile(path(name), data)));
    s3 = new S3Inspector(client, DEMO_ENV.S3_BUCKET);
    demo = await startDemoApp();
    browser = await launchChromium();
    // Every request of every page of this browser, to check they all stay on the demo's origin.
    browser.context.on('request', (request) =>
      requests.push({ method: request.method(), url: request.url(), concat: request.headers()['upload-concat'] }),
    );
    browser.context.on('response', async (response) => {
      const request = response.request();
      if (request.method() !== 'POST' || request.headers()['upload-concat'] !== 'partial') return;
      const location = await response.headerValue('location');
      if (location) partialIds.push(idOf(location));
    });
    page = await browser.context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  });

  afterAll(async () => {
    await browser?.close();
    await demo?.close();
    client.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const fileState = (name: string): Promise<FileState | null> =>
    page.evaluate((wanted) => {
      const file = uppy.getFiles().find((f) => f.name === wanted);
      if (!file) return null;
      return {
        name: file.name,
        bytesUploaded: Number(file.progress.bytesUploaded || 0),
        complete: Boolean(file.progress.uploadComplete),
        paused: Boolean(file.isPaused),
        uploadUrl: file.response?.uploadURL ?? file.tus?.uploadUrl ?? null,
      };
    }, name);

  const waitFor = (name: string, condition: 'started' | 'complete', minBytes = 0) =>
    page.waitForFunction(
      ([wanted, until, min]) => {
        const file = uppy.getFiles().find((f) => f.name === wanted);
        if (!file) return false;
        return until === 'complete'
          ? Boolean(file.progress.uploadComplete)
          : Number(file.progress.bytesUploaded || 0) >= Number(min);
      },
      [name, condition, minBytes] as const,
      { polling: 50, timeout: 40_000 },
    );

  const progressButton = (name: string) =>
    page.locator('.uppy-Dashboard-Item', { hasText: name }).locator('button.uppy-Dashboard-Item-progressIndicator');

  async function pick(...names: string[]): Promise<void> {
    await page.locator('input.uppy-Dashboard-input').first().setInputFiles(names.map(path));
    await page.locator('.uppy-StatusBar-actionBtn--upload').click();
  }

  async function expectStored(name: string): Promise<string> {
    const state = await fileState(name);
    expect(state?.complete).toBe(true);
    const id = idOf(state!.uploadUrl!);
    const stored = await s3.bytes(`${DEMO_ENV.S3_OBJECT_PREFIX}${id}`);
    expect(stored.length).toBe(files[name].length);
    expect(stored.equals(files[name])).toBe(true);
    return id;
  }

  /** Uploads seen in the finished list, by file name. */
  const listed: Record<string, string> = {};

  async function expectListed(name: string, id: string): Promise<void> {
    listed[name] = id;
    const row = page.locator(`#finished tbody tr[data-id="${id}"]`);
    await row.waitFor({ timeout: 10_000 });
    const cells = await row.locator('td').allInnerTexts();
    expect(cells[0]).toBe(name);
    expect(cells[2]).toBe(`s3://${DEMO_ENV.S3_BUCKET}/${DEMO_ENV.S3_OBJECT_PREFIX}${id}`);
    expect(cells[3]).toBe('—');
    expect(cells[4]).toMatch(/\(this one\)$/);
  }

  async function serverOffset(uploadUrl: string): Promise<number> {
    const head = await call('HEAD', uploadUrl, DEMO_AUTH);
    expect(head.status).toBe(200);
    return Number(head.get('upload-offset'));
  }

  it('uploads picked files, pauses and resumes, survives a reload, lists them live, and stays on its origin', async () => {
    const origin = demo.origin;
    await page.goto(`${origin}/`);
    // A DEMO_TOKEN of one's own is not in the page: the user types it.
    expect(await page.inputValue('#token')).toBe('');
    await page.fill('#token', DEMO_ENV.DEMO_TOKEN);
    await page.locator('#token').press('Tab'); // 'change': stored, and /events reconnects with it
    await page.waitForFunction(() => document.getElementById('live')!.textContent!.startsWith('live'));
    await page.fill('#chunk', '1'); // 1 MiB PATCHes, so that a pause lands mid-way

    // Three files at once; the big one is paused mid-way, the others go on.
    await pick('notes.txt', 'photo.raw', 'big.bin');
    await waitFor('big.bin', 'started', 4 * MiB);
    expect(await progressButton('big.bin').getAttribute('aria-label')).toBe('Pause upload');
    await progressButton('big.bin').click();
    expect(await progressButton('big.bin').getAttribute('aria-label')).toBe('Resume upload');
    await sleep(500); // the aborted PATCH settles: the server keeps what it received
    const paused = (await fileState('big.bin'))!;
    expect(paused.paused).toBe(true);
    const offset = await serverOffset(paused.uploadUrl!);
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThan(files['big.bin'].length);
    await waitFor('notes.txt', 'complete');
    await waitFor('photo.raw', 'complete');
    expect(await serverOffset(paused.uploadUrl!)).toBe(offset); // nothing moved while paused
    expect((await fileState('big.bin'))!.complete).toBe(false);

    await progressButton('big.bin').click(); // resume
    await waitFor('big.bin', 'complete');
    expect((await fileState('big.bin'))!.uploadUrl).toBe(paused.uploadUrl); // the same upload, continued
    for (const name of ['notes.txt', 'photo.raw', 'big.bin']) await expectListed(name, await expectStored(name));
    if (process.env.DEMO_SCREENSHOT) await page.screenshot({ path: process.env.DEMO_SCREENSHOT, fullPage: true });

    // The parallel switch: one file in partial uploads joined with Upload-Concat; the list shows only the whole.
    await page.locator('.uppy-StatusBar-actionBtn--done').click();
    await page.check('#parallel');
    await pick('parallel.bin');
    await waitFor('parallel.bin', 'complete');
    const parallelId = await expectStored('parallel.bin');
    await expectListed('parallel.bin', parallelId);
    expect(requests.filter((r) => r.method === 'POST' && r.concat === 'partial')).toHaveLength(4);
    expect(requests.filter((r) => r.method === 'POST' && r.concat?.startsWith('final;'))).toHaveLength(1);
    expect(partialIds).toHaveLength(4);
    await sleep(300);
    for (const id of partialIds) expect(await page.locator(`#finished tbody tr[data-id="${id}"]`).count()).toBe(0);

    // A reload mid-upload: the same file added again continues the same upload (the fingerprint in localStorage).
    await page.locator('.uppy-StatusBar-actionBtn--done').click();
    await page.uncheck('#parallel');
    await pick('reload.bin');
    await waitFor('reload.bin', 'started', 3 * MiB);
    const interrupted = (await fileState('reload.bin'))!.uploadUrl!;
    await page.reload();
    expect(await page.inputValue('#token')).toBe(DEMO_ENV.DEMO_TOKEN); // kept in this browser
    await page.waitForFunction(() => document.getElementById('live')!.textContent!.startsWith('live'));
    const postsBefore = requests.filter((r) => r.method === 'POST').length;
    const resumedFrom = await serverOffset(interrupted);
    expect(resumedFrom).toBeGreaterThan(0);
    await pick('reload.bin'); // chunk size back to 0: the rest in one PATCH
    await waitFor('reload.bin', 'complete');
    expect((await fileState('reload.bin'))!.uploadUrl).toBe(interrupted);
    expect(requests.filter((r) => r.method === 'POST')).toHaveLength(postsBefore); // no new upload created
    await expectListed('reload.bin', await expectStored('reload.bin'));
    // The list was replayed after the reload: what finished before is there again, once each.
    for (const [name, id] of Object.entries(listed)) {
      expect(await page.locator(`#finished tbody tr[data-id="${id}"]`).count()).toBe(1);
      await expectListed(name, id);
    }

    // The page loaded its assets, its stream and its uploads, all from the demo's origin and nothing else.
    const paths = new Set(requests.map((r) => `${r.method} ${new URL(r.url).pathname}`));
    for (const expected of [
      'GET /',
      'GET /demo.js',
      'GET /uppy/uppy.min.mjs',
      'GET /uppy/uppy.min.css',
      'GET /events',
      'POST /uploads',
      'HEAD /uploads/' + idOf(interrupted),
    ]) {
      expect(paths).toContain(expected);
    }
    expect([...paths].some((p) => p.startsWith('PATCH /uploads/'))).toBe(true);
    const elsewhere = requests.filter((r) => !r.url.startsWith('data:') && new URL(r.url).origin !== origin);
    expect(elsewhere).toEqual([]);
    expect(problems).toEqual([]);
  }, 90_000);
});
