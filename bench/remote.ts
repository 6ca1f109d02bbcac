/**
 * `npm run bench:remote`: how long one upload takes when the links are not local, the way most deployments are: the
 * client on the internet, S3 in a data centre. Two slow links stand in for them (bench/servers/slow-link.ts): the
 * client's (to the server, and for (a) straight to S3) and the server's to S3. One upload at a time, each in one
 * PATCH, the targets taking turns in an order that rotates every round; the median time of an upload is reported,
 * with (b)'s PATCH alone. Unlike `npm run bench`, the links, not the CPU, bound these uploads.
 *
 * BENCH_CLIENT_LINK / BENCH_S3_LINK: `<MB/s>,<one-way ms>` (default 40,10 and 100,2); BENCH_ROUNDS (default 7).
 */
import { ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createS3Client } from '../libs/tus-s3/src';
import { BUCKET, loadConfig, mib, MiB, s3ConfigOf, Scenario, serviceEnv, TARGET_LABELS } from './config';
import type { BenchContext } from './context';
import { pidsNamed } from './measure/cpu';
import { RedisCommandCounter } from './measure/redis-stats';
import { BenchBucket } from './measure/s3-objects';
import { Payload } from './payload';
import type { LinkSettings } from './servers/slow-link';
import { DirectTarget, sendUnsignedPayloads } from './targets/direct-target';
import { ServerChild, ServerKind } from './targets/server-child';
import type { Target } from './targets/target';
import { TusTarget } from './targets/tus-target';
import { runRound } from './steps/upload-round';

const NAMES = ['direct', 'nest', 'peer'] as const;
type Name = (typeof NAMES)[number];

function linkOf(variable: string, fallback: [number, number]): Omit<LinkSettings, 'targetPort'> {
  const [megabytesPerSecond, oneWayDelayMs] = (process.env[variable]?.split(',').map(Number) ?? fallback) as [
    number,
    number,
  ];
  if (!(megabytesPerSecond > 0) || !(oneWayDelayMs >= 0)) throw new Error(`${variable} must be "<MB/s>,<ms>"`);
  return { megabytesPerSecond, oneWayDelayMs };
}

/** Starts the slow links; returns their ports, in order, and the child to stop. */
async function startLinks(links: LinkSettings[]): Promise<{ ports: number[]; child: ChildProcess }> {
  const child = fork(join(__dirname, 'servers', 'slow-link.js'), [], {
    env: { ...process.env, BENCH_LINKS: JSON.stringify(links) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ports = await new Promise<number[]>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`slow links exited (code ${code})`)));
    child.on(
      'message',
      (message: { type: string; ports: number[] }) => message.type === 'ready' && resolve(message.ports),
    );
  });
  return { ports, child };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main(): Promise<void> {
  const config = loadConfig();
  const env = serviceEnv();
  const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
  const clientLink = linkOf('BENCH_CLIENT_LINK', [40, 10]);
  const s3Link = linkOf('BENCH_S3_LINK', [100, 2]);
  const s3 = createS3Client(s3ConfigOf(env));
  const runPrefix = `remote-${Date.now()}-${randomBytes(2).toString('hex')}-`;
  const ctx: BenchContext = {
    config,
    env,
    payload: new Payload(),
    bucket: new BenchBucket(s3, BUCKET),
    s3,
    unsignedS3: s3,
    runPrefix,
    tempRoot: join(config.workDir, 'tmp', runPrefix.replace(/-$/, '')),
    servicePids: pidsNamed(['radosgw', 'ceph-osd', 'redis-server']),
    redis: new RedisCommandCounter(env.redisUrls[0]),
  };
  await ctx.bucket.ensure();
  const rgwPort = Number(new URL(env.endpoint).port);

  const servers = {} as Record<ServerKind, ServerChild>;
  const s3Links = await startLinks([
    { ...s3Link, targetPort: rgwPort }, // the nest server's way to S3
    { ...s3Link, targetPort: rgwPort }, // the peer's: links of their own, as they run in turns anyway
  ]);
  for (const [i, kind] of (['nest', 'peer'] as const).entries()) {
    servers[kind] = await ServerChild.start({
      kind,
      settings: {
        bucket: BUCKET,
        prefix: `${runPrefix}${kind === 'nest' ? 'b/' : 'c-'}`,
        tempDir: join(ctx.tempRoot, kind),
        partSize: config.module.partSize,
        partUploadConcurrency: config.module.partUploadConcurrency,
        holdBackIn: 's3',
      },
      s3Endpoint: `http://127.0.0.1:${s3Links.ports[i]}`,
    });
  }
  const clientLinks = await startLinks([
    { ...clientLink, targetPort: rgwPort },
    { ...clientLink, targetPort: Number(new URL(servers.nest.origin).port) },
    { ...clientLink, targetPort: Number(new URL(servers.peer.origin).port) },
  ]);
  const via = (port: number) => `http://127.0.0.1:${port}`;
  const direct = sendUnsignedPayloads(createS3Client({ ...s3ConfigOf(env), endpoint: via(clientLinks.ports[0]) }));
  const targets: Record<Name, Target> = {
    direct: new DirectTarget(direct, BUCKET, `${runPrefix}a/`, ctx.payload),
    nest: new TusTarget('nest', `${via(clientLinks.ports[1])}/files`, ctx.payload, (id) => `${runPrefix}b/${id}`),
    peer: new TusTarget('peer', `${via(clientLinks.ports[2])}/files`, ctx.payload, (id) => id),
  };

  console.log(
    `client link ${clientLink.megabytesPerSecond} MB/s, ${clientLink.oneWayDelayMs} ms each way; ` +
      `server to S3 ${s3Link.megabytesPerSecond} MB/s, ${s3Link.oneWayDelayMs} ms each way; ${rounds} rounds after 1 warm-up`,
  );
  const lines: string[] = [];
  try {
    for (const size of [4 * MiB, 32 * MiB]) {
      const scenario: Scenario = {
        id: `remote-${size / MiB}`,
        title: `one upload of ${mib(size)} in one PATCH`,
        size,
        patchSize: size,
        uploads: 1,
        sha256: true,
        holdBackIn: 's3',
      };
      const ms: Record<Name, number[]> = { direct: [], nest: [], peer: [] };
      const patchMs: number[] = [];
      for (let round = 0; round <= rounds; round++) {
        const order = NAMES.map((_, i) => NAMES[(i + round) % NAMES.length]);
        for (const name of order) {
          const outcome = await runRound(ctx, scenario, targets[name]);
          if (!outcome.verified) throw new Error(`${name}: ${outcome.error}`);
          if (round === 0) continue;
          ms[name].push((size / 1e6 / outcome.mbps) * 1000);
          if (name === 'nest') patchMs.push(outcome.outcomes[0].patchMs![0]);
        }
      }
      const ceiling = median(ms.direct);
      for (const name of NAMES)
        lines.push(
          `| ${scenario.title} | ${TARGET_LABELS[name]} | ${median(ms[name]).toFixed(0)} ms | ` +
            `${(ceiling / median(ms[name])).toFixed(2)} | ${name === 'nest' ? `${median(patchMs).toFixed(0)} ms` : ''} |`,
        );
    }
  } finally {
    await ctx.bucket.deletePrefix(runPrefix);
    for (const target of Object.values(targets)) (target as Partial<TusTarget>).close?.();
    await Promise.all(Object.values(servers).map((server) => server.stop()));
    s3Links.child.kill();
    clientLinks.child.kill();
    direct.destroy();
    s3.destroy();
    ctx.redis.close();
  }
  console.log('\n| upload | target | time (median) | x (a) | PATCH (median) |\n|---|---|---:|---:|---:|');
  for (const line of lines) console.log(line);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
