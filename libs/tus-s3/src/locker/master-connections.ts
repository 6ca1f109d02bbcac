import Redis from 'ioredis';

/** ioredis states in which a command fails or queues instead of reaching the master. */
const DISCONNECTED = new Set(['reconnecting', 'close', 'end']);

export function quorumOf(masterCount: number): number {
  return Math.floor(masterCount / 2) + 1;
}

/**
 * How many masters can take a lock command now. Connections that are still being (re)established get up to
 * `timeoutMs` to become ready, so a lock right after start-up or right after a master came back does not fail
 * for a handshake in progress. Returns early once `needed` are ready or can no longer be.
 */
export function countReadyMasters(clients: readonly Redis[], needed: number, timeoutMs: number): Promise<number> {
  let ready = clients.filter((client) => client.status === 'ready').length;
  const pending = clients.filter((client) => client.status !== 'ready' && !DISCONNECTED.has(client.status));
  if (ready >= needed || ready + pending.length < needed) return Promise.resolve(ready);

  return new Promise<number>((resolve) => {
    let undecided = pending.length;
    const cleanups: (() => void)[] = [];
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      for (const cleanup of cleanups) cleanup();
      resolve(ready);
    };
    const timer = setTimeout(finish, timeoutMs);
    timer.unref();

    for (const client of pending) {
      const decide = (isReady: boolean) => () => {
        client.off('ready', onReady);
        client.off('close', onClose);
        if (isReady) ready++;
        undecided--;
        if (ready >= needed || ready + undecided < needed) finish();
      };
      const onReady = decide(true);
      const onClose = decide(false);
      client.once('ready', onReady);
      client.once('close', onClose);
      cleanups.push(() => {
        client.off('ready', onReady);
        client.off('close', onClose);
      });
      // A lazyConnect client only connects when asked to.
      if (client.status === 'wait') client.connect().catch(() => undefined);
    }
  });
}
