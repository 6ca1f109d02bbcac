import { MiB } from './config';
import { ScenarioResult, totalMsPerMiB } from './results';

/** The least CPU per MiB a tus server could cost in a scenario, the least time, and the best ratio to (a) they allow. */
export interface PhysicalLimit {
  /** (a)'s CPU per MiB, all parties: sending to S3, and S3's own work. */
  directMsPerMiB: number;
  /**
   * That plus the client's sending to a server and the server's receiving (see measure/receive-floor.ts), plus, where
   * PATCHes are smaller than a part, storing each where the scenario holds bytes back (measure/hold-floor.ts).
   */
  leastMsPerMiB: number;
  /** The last of those, 0 where PATCHes are parts. */
  holdMsPerMiB: number;
  /** `directMsPerMiB / leastMsPerMiB`: what any tus server could reach at best when the cores are saturated. */
  cpuRatio: number;
  /**
   * Where an upload comes in several PATCHes: MB/s of storing them one after another (each answered once stored),
   * over (a)'s MB/s; what any tus server could reach at best however idle the cores.
   */
  sequentialRatio?: number;
  /** The lower of the two: the best any tus server could reach here. */
  bestRatio: number;
  /** Which of them that is. */
  boundBy: 'cpu' | 'sequential';
}

/** Undefined when the scenario has no receive floor (results of a bench before it measured one). */
export function physicalLimit(s: ScenarioResult): PhysicalLimit | undefined {
  if (!s.receiveFloor) return undefined;
  const hold = s.holdFloor;
  const directMsPerMiB = totalMsPerMiB(s, 'direct');
  const holdMsPerMiB = hold && hold.held !== false ? hold.clientMsPerMiB + hold.servicesMsPerMiB : 0;
  const leastMsPerMiB = directMsPerMiB + s.receiveFloor.clientMsPerMiB + s.receiveFloor.serverMsPerMiB + holdMsPerMiB;
  const cpuRatio = leastMsPerMiB > 0 ? directMsPerMiB / leastMsPerMiB : 0;
  const direct = s.targets.direct.median;
  const sequentialRatio = hold?.wallMsPerMiB && direct > 0 ? sequentialMBps(hold.wallMsPerMiB) / direct : undefined;
  const boundBy = sequentialRatio !== undefined && sequentialRatio < cpuRatio ? 'sequential' : 'cpu';
  return {
    directMsPerMiB,
    leastMsPerMiB,
    holdMsPerMiB,
    cpuRatio,
    ...(sequentialRatio !== undefined ? { sequentialRatio } : {}),
    bestRatio: boundBy === 'sequential' ? sequentialRatio! : cpuRatio,
    boundBy,
  };
}

/** MB/s (10^6 bytes per second) of storing PATCHes one after another at `wallMsPerMiB`. */
export function sequentialMBps(wallMsPerMiB: number): number {
  return MiB / 1e6 / (wallMsPerMiB / 1000);
}
