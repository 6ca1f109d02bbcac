import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One redis-server child process that can be stopped and started again on the same port. */
export class RedisMaster {
  private process: ChildProcess | undefined;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', `${this.port}`, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.process = child;
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`redis-server on ${this.port} did not start: ${output}`)), 5_000);
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server on ${this.port} exited with ${code}: ${output}`));
      });
    });
  }

  /** SIGKILL: a crash, not a clean shutdown, and nothing persisted. */
  async stop(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Keeps connections open but answers nothing, like a hung host. */
  freeze(): void {
    this.process?.kill('SIGSTOP');
  }

  thaw(): void {
    this.process?.kill('SIGCONT');
  }
}

export async function waitForRedisServerBinary(): Promise<void> {
  // Another script may still be installing redis-server when the tests start.
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      execFileSync('which', ['redis-server'], { stdio: 'ignore' });
      return;
    } catch {
      if (Date.now() > deadline) throw new Error('redis-server is not installed');
      await sleep(2_000);
    }
  }
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function freePorts(count: number, from = 6390): Promise<number[]> {
  const ports: number[] = [];
  for (let port = from; ports.length < count && port < from + 200; port++) {
    if (await isPortFree(port)) ports.push(port);
  }
  if (ports.length < count) throw new Error('no free ports for test Redis masters');
  return ports;
}
