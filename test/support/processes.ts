import { ChildProcess, spawn } from 'node:child_process';

/**
 * Child processes for tests that run real commands (npm, tsc, an app): every one is time-bounded, and when one
 * fails the error carries everything it printed.
 */

export interface RunOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
}

export interface RunResult {
  stdout: string;
  /** stdout and stderr interleaved as they came. */
  output: string;
}

/** The environment without the `npm_*` variables `npm test` sets, so that a child npm sees no trace of this repo. */
export function envWithoutNpm(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(name)) env[name] = value;
  }
  return { ...env, ...extra };
}

/** Runs a command to its end; rejects (with its output) on a non-zero exit, a signal or the timeout. */
export function run(command: string, args: string[], options: RunOptions): Promise<RunResult> {
  const label = [command, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${label} could not start: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve({ stdout, output });
      const why = timedOut ? `timed out after ${options.timeoutMs} ms` : `exited with ${code ?? signal}`;
      reject(new Error(`${label} (in ${options.cwd}) ${why}\n--- its output ---\n${output}`));
    });
  });
}

/**
 * A long-running child (a server) whose stdout lines are watched: `waitForLine` resolves with the first line, past
 * or future, that matches; it rejects when the child exits first or the time is up, with the child's output.
 */
export class WatchedProcess {
  private readonly child: ChildProcess;
  private out = '';
  private exit: string | undefined;
  private readonly lines: string[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly label: string,
    command: string,
    args: string[],
    options: { cwd: string; env: NodeJS.ProcessEnv },
  ) {
    this.child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      this.out += chunk.toString();
      partial += chunk.toString();
      const complete = partial.split('\n');
      partial = complete.pop()!;
      this.lines.push(...complete);
      this.notify();
    });
    this.child.stderr!.on('data', (chunk: Buffer) => (this.out += chunk.toString()));
    this.child.on('error', (error) => this.exited(`could not start: ${error.message}`));
    this.child.on('exit', (code, signal) => this.exited(`exited with ${code ?? signal}`));
  }

  /** Everything it printed so far, for error messages. */
  get output(): string {
    return `--- ${this.label} output${this.exit ? ` (${this.exit})` : ''} ---\n${this.out}`;
  }

  waitForLine(matches: (line: string) => boolean, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const line = this.lines.find(matches);
        if (line !== undefined) return done(() => resolve(line));
        if (this.exit) {
          return done(() => reject(new Error(`${this.label} ${this.exit} before the line expected\n${this.output}`)));
        }
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`${this.label}: no line expected within ${timeoutMs} ms\n${this.output}`))),
        timeoutMs,
      );
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** SIGKILL (a crash: no shutdown hook runs); resolves once it exited. */
  async kill(): Promise<void> {
    if (this.exit || this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGKILL');
    await exited;
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.exit || this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  private exited(why: string): void {
    this.exit ??= why;
    this.notify();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
