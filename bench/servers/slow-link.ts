/**
 * A child process of `npm run bench:remote`: TCP proxies that make a link of the local machine behave like a
 * slower one, for uploads through the internet or to an S3 in another building. Each link has a one-way delay and a
 * rate shared by all its connections in each direction: a chunk leaves once the link has sent everything before it
 * and its delay has passed, in order. Settings come from BENCH_LINKS (JSON: `LinkSettings[]`); the child answers
 * `{ type: 'ready', ports }` over IPC once every proxy listens, and exits on SIGTERM.
 */
import { createServer, connect, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface LinkSettings {
  /** Where the link leads (127.0.0.1). */
  targetPort: number;
  /** Bytes per second, in 10^6, each way. */
  megabytesPerSecond: number;
  /** Added to every chunk's trip, each way. */
  oneWayDelayMs: number;
}

/**
 * One direction of a link. Chunks leave in the order they came, each once the link has sent everything before it
 * and its delay has passed: one queue and one timer, since timers of different lengths may fire out of order.
 */
class Direction {
  /** When the link is free again, on the performance.now() clock. */
  private freeAt = 0;
  private readonly queue: Array<{ due: number; deliver: () => void }> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly settings: LinkSettings) {}

  /** Writes `chunk` to `to` once the link has carried it. */
  carry(chunk: Buffer, to: Socket): void {
    this.freeAt = Math.max(performance.now(), this.freeAt) + chunk.length / (this.settings.megabytesPerSecond * 1000);
    this.enqueue(() => to.destroyed || to.write(chunk));
  }

  /** Runs `then` once everything carried so far has arrived. */
  after(then: () => void): void {
    this.freeAt = Math.max(performance.now(), this.freeAt);
    this.enqueue(then);
  }

  private enqueue(deliver: () => void): void {
    this.queue.push({ due: this.freeAt + this.settings.oneWayDelayMs, deliver });
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        const now = performance.now();
        while (this.queue.length > 0 && this.queue[0].due <= now) this.queue.shift()!.deliver();
        this.schedule();
      },
      Math.max(0, this.queue[0].due - performance.now()),
    );
  }
}

function pipe(from: Socket, to: Socket, direction: Direction): void {
  from.on('data', (chunk: Buffer) => direction.carry(chunk, to));
  from.on('end', () => direction.after(() => to.end()));
  from.on('error', () => to.destroy());
  from.on('close', () => direction.after(() => to.destroy()));
}

async function startLink(settings: LinkSettings): Promise<number> {
  const up = new Direction(settings);
  const down = new Direction(settings);
  const server = createServer((client) => {
    const target = connect(settings.targetPort, '127.0.0.1');
    client.setNoDelay(true);
    target.setNoDelay(true);
    pipe(client, target, up);
    pipe(target, client, down);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function main(): Promise<void> {
  const links = JSON.parse(process.env.BENCH_LINKS ?? '[]') as LinkSettings[];
  const ports = await Promise.all(links.map(startLink));
  process.send?.({ type: 'ready', ports });
  process.on('SIGTERM', () => process.exit(0));
  process.once('disconnect', () => process.exit(1)); // the bench is gone
}

void main();
