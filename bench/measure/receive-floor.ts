import { fork } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Scenario } from '../config';
import type { Payload } from '../payload';
import type { FromChild } from '../servers/child-protocol';
import { TusClient } from '../targets/tus-client';
import { startCpuMeter } from './cpu';

const MiB = 1024 * 1024;
/** Bytes sent per measured round: enough to dwarf the start-up of a round, little enough to take well under a second. */
const ROUND_BYTES = 256 * MiB;

/** CPU per MiB that getting the bytes into a Node server costs, with nothing done with them. */
export interface ReceiveFloor {
  /** The bench's tus client, sending. */
  clientMsPerMiB: number;
  /** The sink server: its kernel and Node's HTTP parser taking the bytes in. */
  serverMsPerMiB: number;
}

/**
 * What any tus server written for Node pays before it stores a byte: the client's sending and the server's receiving
 * of the scenario's requests (same PATCH size, same number of uploads at once), measured against a sink server child
 * (bench/servers/sink-server.ts) with the bench's own tus client. Added to what the direct upload (a) spends, it is
 * the least CPU per MiB a tus server in front of S3 can cost on this machine: the physical limit of its ratio.
 */
export async function measureReceiveFloor(scenario: Scenario, payload: Payload, rounds = 3): Promise<ReceiveFloor> {
  const child = fork(join(__dirname, '..', 'servers', 'sink-server.js'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const [ready] = (await once(child, 'message')) as [FromChild];
    if (ready.type !== 'ready') throw new Error('the sink server did not start');
    const client = new TusClient(`http://127.0.0.1:${ready.port}/files`, payload);
    // The scenario's shape, scaled to about ROUND_BYTES in all: a sink takes bytes far faster than S3.
    const repeats = Math.max(1, Math.round(ROUND_BYTES / (scenario.size * scenario.uploads)));
    const round = async () => {
      for (let i = 0; i < repeats; i++) {
        await Promise.all(
          Array.from({ length: scenario.uploads }, () => client.upload(scenario.size, scenario.patchSize)),
        );
      }
    };
    try {
      await round(); // warm-up
      const meter = startCpuMeter(child.pid, []);
      for (let i = 0; i < rounds; i++) await round();
      const cpu = meter();
      const mib = (rounds * repeats * scenario.size * scenario.uploads) / MiB;
      return { clientMsPerMiB: cpu.client / mib, serverMsPerMiB: cpu.server / mib };
    } finally {
      client.close();
    }
  } finally {
    if (child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
  }
}
