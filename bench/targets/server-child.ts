import { ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildSettings, ChildStats, FromChild } from '../servers/child-protocol';
import { readProcStatus } from '../measure/rss';

export type ServerKind = 'nest' | 'peer';

const ENTRY: Record<ServerKind, string> = {
  nest: 'nest-server.js',
  peer: 'tus-node-server.js',
};

export interface ServerChildOptions {
  kind: ServerKind;
  settings: ChildSettings;
  /** Write a CPU profile to this directory when the child exits (`node --cpu-prof`). */
  cpuProfile?: { dir: string; name: string };
  /** More options for the child's `node` (V8 flags, say). */
  nodeArgs?: string[];
  /** The child's S3 endpoint, when not S3_ENDPOINT's (a slow link in front of it, say). */
  s3Endpoint?: string;
}

/** A tus server in its own process, so that its memory and temp files can be measured alone. */
export class ServerChild {
  private constructor(
    readonly kind: ServerKind,
    private readonly child: ChildProcess,
    readonly origin: string,
  ) {}

  static async start(options: ServerChildOptions): Promise<ServerChild> {
    const { kind, settings, cpuProfile } = options;
    mkdirSync(settings.tempDir, { recursive: true });
    const execArgv: string[] = [...(options.nodeArgs ?? [])];
    if (cpuProfile) {
      mkdirSync(cpuProfile.dir, { recursive: true });
      execArgv.push('--cpu-prof', '--cpu-prof-dir', cpuProfile.dir, '--cpu-prof-name', `${cpuProfile.name}.cpuprofile`);
    }
    const child = fork(join(__dirname, '..', 'servers', ENTRY[kind]), [], {
      execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: {
        ...process.env,
        TMPDIR: settings.tempDir,
        BENCH_BUCKET: settings.bucket,
        BENCH_PREFIX: settings.prefix,
        BENCH_TEMP_DIR: settings.tempDir,
        BENCH_PART_SIZE: String(settings.partSize),
        BENCH_CHILD_PART_UPLOAD_CONCURRENCY: String(settings.partUploadConcurrency),
        BENCH_HOLD_BACK_IN: settings.holdBackIn,
        ...(options.s3Endpoint ? { S3_ENDPOINT: options.s3Endpoint } : {}),
      },
    });
    const ready = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${kind} server did not start within 60 s`)), 60_000);
      child.once('exit', (code) => reject(new Error(`${kind} server exited during start-up (code ${code})`)));
      child.on('message', (message: FromChild) => {
        if (message.type !== 'ready') return;
        clearTimeout(timer);
        resolve(message.port);
      });
    });
    return new ServerChild(kind, child, `http://127.0.0.1:${ready}`);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The S3 requests the server made and its major collections since the previous call. */
  async stats(): Promise<ChildStats> {
    const answer = new Promise<ChildStats>((resolve) => {
      const onMessage = (message: FromChild) => {
        if (message.type !== 'stats') return;
        this.child.off('message', onMessage);
        resolve({ s3: message.s3, majorGcs: message.majorGcs });
      };
      this.child.on('message', onMessage);
    });
    this.child.send({ type: 'stats' });
    return answer;
  }

  /** Peak resident memory of the child so far (the kernel's high-water mark, VmHWM), in bytes. */
  peakRss(): number {
    return readProcStatus(this.pid).vmHwm;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}
