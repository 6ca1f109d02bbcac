import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { serviceEnv, testS3Client } from './support/s3-env';
import { S3Inspector } from './support/s3-inspect';
import { envWithoutNpm, run, WatchedProcess } from './support/processes';

/**
 * The package as a user gets it: a fresh Nest app in a temporary directory outside the repository (templates in
 * test/consumer/app) installs Nest and friends from the registry, then `npm run pack:lib`'s tarball. The app is
 * compiled by its own tsc (strict, no skipLibCheck: the shipped declarations are checked too), protects every route
 * with its own global guard, and reports `upload.finished` from its own listener.
 */

const repo = resolve(__dirname, '..');
const BUCKET = 'tus-consumer-e2e';
const SECRET = 'consumer-secret'; // test/consumer/app/src/consumer.config.ts
const MiB = 1024 * 1024;
/** The whole consumer test stays under 3 minutes: npm install from the registry is most of it. */
const BUDGET_MS = 170_000;

/** What the app installs beside the tarball, at the ranges the root package.json tests (same majors). */
const REGISTRY_PACKAGES = [
  '@nestjs/common',
  '@nestjs/core',
  '@nestjs/platform-express',
  '@nestjs/event-emitter',
  'reflect-metadata',
  'rxjs',
  '@aws-sdk/client-s3',
  'ioredis',
  'typescript',
  '@types/node',
  'tus-js-client',
  // Not the optional peers (@nestjs/terminus, prom-client): the app's strict tsc (no skipLibCheck) proves that the
  // shipped declarations do without them.
];

const NPM_FLAGS = ['--no-audit', '--no-fund', '--prefer-offline'];

function rootRange(name: string): string {
  const root = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
  const range = root.dependencies?.[name] ?? root.devDependencies?.[name];
  if (!range) throw new Error(`${name} is not in the root package.json: the consumer test pins to its range`);
  return `${name}@${range}`;
}

describe('consumer app installing the packed tarball', () => {
  const startedAt = Date.now();
  const remaining = (atMost: number) => Math.max(1_000, Math.min(atMost, BUDGET_MS - (Date.now() - startedAt)));
  const prefix = `consumer-${randomBytes(4).toString('hex')}/`;
  let dir: string;
  let tarball: string;
  let app: WatchedProcess | undefined;
  let origin: string;

  /** Adds the app's output to whatever failed, so a failure explains itself. */
  async function withAppOutput<T>(body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      if (error instanceof Error && app) error.message += `\n${app.output}`;
      throw error;
    }
  }

  beforeAll(async () => {
    const env = serviceEnv(); // fails with instructions when the services are not configured
    dir = await mkdtemp(join(tmpdir(), 'tus-s3-consumer-'));
    if (!relative(repo, dir).startsWith('..')) throw new Error(`${dir} is inside the repository`);
    await cp(join(__dirname, 'consumer', 'app'), dir, { recursive: true });
    const clean = envWithoutNpm();
    const phases: string[] = [];
    const phase = async <T>(name: string, body: () => Promise<T>): Promise<T> => {
      const start = Date.now();
      try {
        return await body();
      } finally {
        phases.push(`${name} ${((Date.now() - start) / 1000).toFixed(1)} s`);
      }
    };

    try {
      // As a user would: an app that has Nest already, then `npm install @nestjs-tus/s3`. The app's own packages
      // install (network, disk) while the library builds (CPU).
      const [packed, appInstalled] = await Promise.allSettled([
        phase('pack:lib', () =>
          run('npm', ['run', '--silent', 'pack:lib'], { cwd: repo, timeoutMs: remaining(120_000) }),
        ),
        phase('npm install (app)', () =>
          run('npm', ['install', ...NPM_FLAGS, ...REGISTRY_PACKAGES.map(rootRange)], {
            cwd: dir,
            env: clean,
            timeoutMs: remaining(120_000),
          }),
        ),
      ]);
      if (packed.status === 'rejected') throw packed.reason; // both settled first: no npm left running in `dir`
      if (appInstalled.status === 'rejected') throw appInstalled.reason;
      const pack = packed.value;
      tarball = pack.stdout.trim().split('\n').pop()!;
      if (!tarball.endsWith('.tgz') || !existsSync(tarball)) {
        throw new Error(`npm run pack:lib did not end with a tarball's path\n--- its output ---\n${pack.output}`);
      }
      await phase('npm install (tarball)', () =>
        run('npm', ['install', ...NPM_FLAGS, tarball], { cwd: dir, env: clean, timeoutMs: remaining(60_000) }),
      );
      await phase('tsc', () =>
        run(process.execPath, [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], {
          cwd: dir,
          env: clean,
          timeoutMs: remaining(60_000),
        }),
      );

      app = new WatchedProcess('consumer app', process.execPath, ['dist/main.js'], {
        cwd: dir,
        env: envWithoutNpm({
          S3_ENDPOINT: env.endpoint,
          S3_REGION: env.region,
          S3_ACCESS_KEY_ID: env.accessKeyId,
          S3_SECRET_ACCESS_KEY: env.secretAccessKey,
          REDIS_URLS: env.redisUrls.join(','),
          CONSUMER_BUCKET: BUCKET,
          CONSUMER_OBJECT_PREFIX: prefix,
        }),
      });
      const listening = await phase('app start', () =>
        app!.waitForLine((line) => line.startsWith('CONSUMER listening '), remaining(30_000)),
      );
      origin = `http://127.0.0.1:${(JSON.parse(listening.slice('CONSUMER listening '.length)) as { port: number }).port}`;
    } catch (error) {
      if (error instanceof Error) error.message = `consumer set-up failed (${phases.join(', ')}): ${error.message}`;
      throw error;
    }
  }, BUDGET_MS + 10_000);

  afterAll(async () => {
    await app?.stop();
    if (dir && !process.env.KEEP_CONSUMER_DIR) await rm(dir, { recursive: true, force: true });
  });

  it('ships only the built library, and installs with one copy of Nest beside the app', async () => {
    const listing = await run('tar', ['tzf', tarball], { cwd: repo, timeoutMs: 10_000 });
    const files = listing.stdout.trim().split('\n');
    expect(files).toContain('package/dist/index.js');
    expect(files).toContain('package/dist/index.d.ts');
    expect(files).toEqual(expect.arrayContaining(['package/package.json', 'package/README.md', 'package/LICENSE']));
    const shipped = /^package\/(dist\/.+\.(js|d\.ts)|package\.json|README\.md|LICENSE)$/;
    expect(files.filter((file) => !shipped.test(file))).toEqual([]);
    expect(files.filter((file) => /spec|test|demo|fixture/i.test(file))).toEqual([]);

    // peerDependencies: the package resolves @nestjs/* from the app's node_modules, not from copies of its own
    const installed = join(dir, 'node_modules', '@nestjs-tus', 's3');
    expect(existsSync(join(installed, 'dist', 'index.js'))).toBe(true);
    expect(existsSync(join(installed, 'node_modules', '@nestjs'))).toBe(false);
    expect(existsSync(join(installed, 'node_modules', 'prom-client'))).toBe(false); // one registry for the app
    expect(existsSync(join(dir, 'node_modules', 'prom-client'))).toBe(false); // an optional peer: not installed
    expect(existsSync(join(dir, 'node_modules', 'redlock'))).toBe(true); // its own dependency, installed with it
  });

  it("runs behind the app's own global guard", () =>
    withAppOutput(async () => {
      const anonymous = await fetch(`${origin}/files`, {
        method: 'POST',
        headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': '10' },
      });
      expect(anonymous.status).toBe(401);
      expect(await anonymous.text()).toContain('consumer guard');

      const wrongToken = await fetch(`${origin}/files`, {
        method: 'POST',
        headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': '10', Authorization: 'Bearer wrong' },
      });
      expect(wrongToken.status).toBe(401);

      const options = await fetch(`${origin}/files`, {
        method: 'OPTIONS',
        headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${SECRET}` },
      });
      expect(options.status).toBe(204);
      expect(options.headers.get('tus-version')).toBe('1.0.0');
    }));

  it('takes an upload from tus-js-client into S3 and tells its own listener', () =>
    withAppOutput(async () => {
      const data = randomBytes(5 * MiB + 17); // 2 MiB PATCHes: held-back chunks, then a part and the rest
      const payload = join(dir, 'payload.bin');
      await writeFile(payload, data);

      const upload = await run(process.execPath, ['dist/upload.js', `${origin}/files`, payload], {
        cwd: dir,
        env: envWithoutNpm(),
        timeoutMs: 60_000,
      });
      const uploaded = upload.stdout.split('\n').find((line) => line.startsWith('CONSUMER uploaded '));
      if (!uploaded) throw new Error(`the tus-js-client upload reported no URL\n--- its output ---\n${upload.output}`);
      const { url } = JSON.parse(uploaded.slice('CONSUMER uploaded '.length)) as { url: string };
      const id = url.slice(url.lastIndexOf('/') + 1);

      const finished = await app!.waitForLine(
        (line) => line.startsWith('CONSUMER finished ') && line.includes(id),
        15_000,
      );
      expect(JSON.parse(finished.slice('CONSUMER finished '.length))).toEqual({
        id,
        size: data.length,
        filename: 'consumer.bin',
        bucket: BUCKET,
        key: `${prefix}${id}`,
      });

      const client = testS3Client();
      try {
        expect((await new S3Inspector(client, BUCKET).bytes(`${prefix}${id}`)).equals(data)).toBe(true);
      } finally {
        client.destroy();
      }
    }));
});
