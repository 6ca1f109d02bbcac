import { readdirSync, readFileSync } from 'node:fs';

/** Kernel clock ticks per second for /proc/<pid>/stat times (100 on every mainstream Linux build). */
const TICKS_PER_SECOND = 100;

/** CPU time (user + system) a process has used so far, in ms; 0 when it is gone. */
export function processCpuMs(pid: number): number {
  const { user, system } = processCpuSplitMs(pid);
  return user + system;
}

/** User and kernel CPU time of a process so far, in ms (zeros when it is gone). */
export function processCpuSplitMs(pid: number): { user: number; system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, utime 14 and stime 15 (1-based, counting pid and comm).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      user: (Number(fields[11]) * 1000) / TICKS_PER_SECOND,
      system: (Number(fields[12]) * 1000) / TICKS_PER_SECOND,
    };
  } catch {
    return { user: 0, system: 0 };
  }
}

/** Pids of running processes whose command name (/proc/<pid>/comm) is one of `names`. Read-only scan of /proc. */
export function pidsNamed(names: string[]): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (names.includes(readFileSync(`/proc/${entry}/comm`, 'utf8').trim())) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** Busy CPU time of the whole machine so far (all cores, from /proc/stat), in ms. */
export function machineBusyMs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return ((user + nice + system + irq + softirq + steal) * 1000) / TICKS_PER_SECOND;
}

export interface CpuSplit {
  /** The bench process: the tus client, or lib-storage for the direct target. */
  client: number;
  /** The server child, when there is one; `serverKernel` is the part of it spent in the kernel (I/O, copies). */
  server: number;
  serverKernel: number;
  /** radosgw + ceph-osd + redis-server: the services every target pays for. */
  services: number;
  /** Everything else the machine did meanwhile (other people's processes, the kernel): noise in the measurement. */
  other: number;
}

export const NO_CPU: Readonly<CpuSplit> = { client: 0, server: 0, serverKernel: 0, services: 0, other: 0 };

/** `a + b * factor`, field by field. */
export function addCpu(a: CpuSplit, b: CpuSplit, factor = 1): CpuSplit {
  return {
    client: a.client + b.client * factor,
    server: a.server + b.server * factor,
    serverKernel: a.serverKernel + b.serverKernel * factor,
    services: a.services + b.services * factor,
    other: a.other + b.other * factor,
  };
}

/** CPU ms used by each party between `start()` and the returned function's call. */
export function startCpuMeter(serverPid: number | undefined, servicePids: number[]): () => CpuSplit {
  const clientStart = process.cpuUsage();
  const serverStart = serverPid ? processCpuSplitMs(serverPid) : { user: 0, system: 0 };
  const servicesStart = servicePids.reduce((sum, pid) => sum + processCpuMs(pid), 0);
  const machineStart = machineBusyMs();
  return () => {
    const used = process.cpuUsage(clientStart);
    const client = (used.user + used.system) / 1000;
    const serverNow = serverPid ? processCpuSplitMs(serverPid) : { user: 0, system: 0 };
    const serverKernel = serverNow.system - serverStart.system;
    const server = serverNow.user - serverStart.user + serverKernel;
    const services = servicePids.reduce((sum, pid) => sum + processCpuMs(pid), 0) - servicesStart;
    const other = Math.max(0, machineBusyMs() - machineStart - client - server - services);
    return { client, server, serverKernel, services, other };
  };
}
