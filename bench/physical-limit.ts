import { ScenarioResult, totalMsPerMiB } from './results';

/** The least CPU per MiB a tus server could cost in a scenario, and the best ratio to (a) that allows. */
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
  bestRatio: number;
}

/** Undefined when the scenario has no receive floor (results of a bench before it measured one). */
export function physicalLimit(s: ScenarioResult): PhysicalLimit | undefined {
  if (!s.receiveFloor) return undefined;
  const directMsPerMiB = totalMsPerMiB(s, 'direct');
  const holdMsPerMiB = s.holdFloor ? s.holdFloor.clientMsPerMiB + s.holdFloor.servicesMsPerMiB : 0;
  const leastMsPerMiB = directMsPerMiB + s.receiveFloor.clientMsPerMiB + s.receiveFloor.serverMsPerMiB + holdMsPerMiB;
  return {
    directMsPerMiB,
    leastMsPerMiB,
    holdMsPerMiB,
    bestRatio: leastMsPerMiB > 0 ? directMsPerMiB / leastMsPerMiB : 0,
  };
}
