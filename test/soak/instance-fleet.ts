import { resolve } from 'node:path';
import { WatchedProcess } from '../support/processes';

const root = resolve(__dirname, '../..');

/** One app instance as a child process (test/support/instance-main.ts): it can be SIGKILLed and started again. */
interface Instance {
  process: WatchedProcess;
  origin: string | undefined;
}

/**
 * Several instances of the test app sharing S3 and Redis, each a child process on its own port. A killed instance
 * is started again at once (on a new port); until it is ready, clients only see the others.
 */
export class InstanceFleet {
  private readonly instances: Instance[] = [];
  private started = 0;
  private readonly restarting = new Set<Promise<void>>();
  kills = 0;
  /** Why instances started again after a kill never came up (each is still stopped with the others). */
  readonly failedStarts: string[] = [];

  constructor(private readonly options: Record<string, unknown>) {}

  /** Starts `count` instances and waits until they all listen. */
  async start(count: number): Promise<void> {
    await Promise.all(Array.from({ length: count }, () => this.launch()));
  }

  /** Origins of the instances that are up now. */
  live(): string[] {
    return this.instances.flatMap((i) => (i.origin ? [i.origin] : []));
  }

  /** Any live instance, as a load balancer without sticky sessions would choose. */
  pick(): string {
    const live = this.live();
    if (live.length === 0) throw new Error('no instance is up');
    return live[Math.floor(Math.random() * live.length)];
  }

  /**
   * SIGKILLs a random live instance (never the last one) and starts a new one in its place, in the background.
   * Returns the origin killed, if any.
   */
  async killOne(): Promise<string | undefined> {
    const live = this.instances.filter((i) => i.origin);
    if (live.length < 2) return undefined;
    const victim = live[Math.floor(Math.random() * live.length)];
    const origin = victim.origin;
    victim.origin = undefined;
    await victim.process.kill();
    this.kills++;
    this.instances.splice(this.instances.indexOf(victim), 1);
    // In the background: a start that fails is a finding of the run, not a crash of it (which would orphan the rest).
    const restart: Promise<void> = this.launch()
      .catch((error: unknown) => void this.failedStarts.push((error as Error).message.split('\n')[0]))
      .finally(() => this.restarting.delete(restart));
    this.restarting.add(restart);
    return origin;
  }

  /** Resolves once the instances being started again are up (or failed to start). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.restarting]);
  }

  /** Stops every instance (SIGTERM, then SIGKILL), once those being started again are up. */
  async stop(): Promise<void> {
    await this.settled();
    await Promise.all(this.instances.map((i) => i.process.stop(3_000)));
    this.instances.length = 0;
  }

  private async launch(): Promise<void> {
    const process_ = new WatchedProcess(
      `instance ${++this.started}`,
      process.execPath,
      ['-r', 'ts-node/register', 'test/support/instance-main.ts'],
      {
        cwd: root,
        env: {
          ...process.env,
          TS_NODE_PROJECT: 'tsconfig.jest.json',
          TS_NODE_TRANSPILE_ONLY: '1',
          TUS_INSTANCE_OPTIONS: JSON.stringify(this.options),
        },
      },
    );
    const instance: Instance = { process: process_, origin: undefined };
    this.instances.push(instance);
    const ready = await process_.waitForLine((line) => line.startsWith('READY '), 90_000);
    instance.origin = ready.slice('READY '.length);
  }
}
