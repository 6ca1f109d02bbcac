/**
 * `npm run bench:remote`: how long one upload takes when the links are not local, the way most deployments are: the
 * client on the internet, S3 in a data centre. Two slow links stand in for them (bench/servers/slow-link.ts): the
 * client's (to the server, and for (a) straight to S3) and the server's to S3. One upload at a time, in one PATCH or
 * in 1 MiB PATCHes (held back in S3, or in Redis: (b) only), the targets taking turns in an order that rotates every
 * round; the median time of an upload is reported, with (b)'s median PATCH and its last. Unlike `npm run bench`, the
 * links, not the CPU, bound these uploads.
 *
 * BENCH_CLIENT_LINK / BENCH_S3_LINK: `<MB/s>,<one-way ms>` (default 40,10 and 100,2); BENCH_ROUNDS (default 7).
 */
import { ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createS3Client } from '../libs/tus-s3/src';
import { BUCKET, loadConfig, mib, MiB, s3ConfigOf, Scenario, serviceEnv, TARGET_LABELS } from './config';
import { closeBenchContext, openBenchContext } from './context';
import type { LinkSettings } from './servers/slow-link';
import { DirectTarget, sendUnsignedPayloads } from './targets/direct-target';
import { ServerChild } from './targets/server-child';
import type { Target } from './targets/target';
import { TusTarget } from './targets/tus-target';
import { runRound } from './steps/upload-round';
import { stallLimitMs, watchForStalls } from './stall-watchdog';

const NAMES = ['direct', 'nest', 'peer'] as const;
type Name = (typeof NAMES)[number];

/** What is uploaded, and whom (b)'s target is: the server holding back bytes in S3, or the one holding them in Redis. */
interface RemoteScenario extends Scenario {
  targets: readonly Name[];
}

function remoteScenario(size: number, patchSize: number, holdBackIn: 's3' | 'redis'): RemoteScenario {
  const pieces = patchSize === size ? 'in one PATCH' : `in ${mib(patchSize)} PATCHes`;
  return {
    id: `remote-${size / MiB}-${patchSize / MiB}-${holdBackIn}`,
    title: `${mib(size)} ${pieces}${holdBackIn === 'redis' ? ', held back in Redis' : ''}`,
    size,
    patchSize,
    uploads: 1,
    sha256: true,
    holdBackIn,
    targets: holdBackIn === 'redis' ? ['direct', 'nest'] : NAMES,
  };
}

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
  const runPrefix = `remote-${Date.now()}-${randomBytes(2).toString('hex')}-`;
  const ctx = openBenchContext(config, env, runPrefix);
  const watchdog = watchForStalls(stallLimitMs(), () => ctx.bucket.deletePrefix(runPrefix));
  await ctx.bucket.ensure();
  const rgwPort = Number(new URL(env.endpoint).port);

  // The module twice (bytes held back in S3, and in Redis), and the peer, each with a link of its own to S3.
  const kinds = [
    { name: 'nest-s3', kind: 'nest', holdBackIn: 's3' },
    { name: 'nest-redis', kind: 'nest', holdBackIn: 'redis' },
    { name: 'peer', kind: 'peer', holdBackIn: 's3' },
  ] as const;
  const s3Links = await startLinks(kinds.map(() => ({ ...s3Link, targetPort: rgwPort })));
  const servers: ServerChild[] = [];
  for (const [i, { name, kind, holdBackIn }] of kinds.entries()) {
    servers.push(
      await ServerChild.start({
        kind,
        settings: {
          bucket: BUCKET,
          prefix: `${runPrefix}${name}${kind === 'nest' ? '/' : '-'}`,
          tempDir: join(ctx.tempRoot, name),
          partSize: config.module.partSize,
          partUploadConcurrency: config.module.partUploadConcurrency,
          holdBackIn,
        },
        s3Endpoint: `http://127.0.0.1:${s3Links.ports[i]}`,
      }),
    );
  }
  const clientLinks = await startLinks([
    { ...clientLink, targetPort: rgwPort },
    ...servers.map((server) => ({ ...clientLink, targetPort: Number(new URL(server.origin).port) })),
  ]);
  const via = (port: number) => `http://127.0.0.1:${port}`;
  const direct = sendUnsignedPayloads(createS3Client({ ...s3ConfigOf(env), endpoint: via(clientLinks.ports[0]) }));
  const tus = (i: number) => {
    const { name, kind } = kinds[i];
    const keyOf = kind === 'nest' ? (id: string) => `${runPrefix}${name}/${id}` : (id: string) => id;
    return new TusTarget(kind, `${via(clientLinks.ports[i + 1])}/files`, ctx.payload, keyOf);
  };
  const tusTargets = kinds.map((_, i) => tus(i));
  const targetsOf = (holdBackIn: 's3' | 'redis'): Record<Name, Target> => ({
    direct: new DirectTarget(direct, BUCKET, `${runPrefix}a/`, ctx.payload),
    nest: tusTargets[holdBackIn === 's3' ? 0 : 1],
    peer: tusTargets[2],
  });

  console.log(
    `client link ${clientLink.megabytesPerSecond} MB/s, ${clientLink.oneWayDelayMs} ms each way; ` +
      `server to S3 ${s3Link.megabytesPerSecond} MB/s, ${s3Link.oneWayDelayMs} ms each way; ${rounds} rounds after 1 warm-up`,
  );
  const lines: string[] = [];
  const scenarios = [
    remoteScenario(4 * MiB, 4 * MiB, 's3'),
    remoteScenario(16 * MiB, 16 * MiB, 's3'), // stored whole (storeWholeUpTo): one PutObject following the body
    remoteScenario(32 * MiB, 32 * MiB, 's3'),
    remoteScenario(16 * MiB, MiB, 's3'),
    remoteScenario(16 * MiB, MiB, 'redis'),
  ];
  try {
    for (const scenario of scenarios) {
      const targets = targetsOf(scenario.holdBackIn);
      const ms: Record<Name, number[]> = { direct: [], nest: [], peer: [] };
      const patchMs: number[] = [];
      const lastMs: number[] = [];
      for (let round = 0; round <= rounds; round++) {
        const names = scenario.targets;
        for (const name of names.map((_, i) => names[(i + round) % names.length])) {
          const outcome = await runRound(ctx, scenario, targets[name]);
          watchdog.progress();
          if (!outcome.verified) throw new Error(`${scenario.id} ${name}: ${outcome.error}`);
          if (round === 0) continue;
          ms[name].push((scenario.size / 1e6 / outcome.mbps) * 1000);
          if (name !== 'nest') continue;
          const patches = outcome.outcomes[0].patchMs!;
          patchMs.push(median(patches));
          lastMs.push(patches[patches.length - 1]);
        }
      }
      const ceiling = median(ms.direct);
      const patches = scenario.patchSize === scenario.size ? '' : `, ${median(patchMs).toFixed(0)} ms median`;
      for (const name of scenario.targets)
        lines.push(
          `| ${scenario.title} | ${TARGET_LABELS[name]} | ${median(ms[name]).toFixed(0)} ms | ` +
            `${(ceiling / median(ms[name])).toFixed(2)} | ` +
            `${name === 'nest' ? `${median(lastMs).toFixed(0)} ms${patches}` : ''} |`,
        );
    }
  } finally {
    await ctx.bucket.deletePrefix(runPrefix);
    for (const target of tusTargets) target.close();
    await Promise.all(servers.map((server) => server.stop()));
    s3Links.child.kill();
    clientLinks.child.kill();
    direct.destroy();
    closeBenchContext(ctx);
    watchdog.stop();
  }
  console.log("\n| upload | target | time (median) | x (a) | (b)'s last PATCH |\n|---|---|---:|---:|---:|");
  for (const line of lines) console.log(line);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
