import { readFileSync } from 'node:fs';

export interface ProcMemory {
  /** Resident set size now, bytes. */
  vmRss: number;
  /** Peak resident set size since the process started (the kernel's high-water mark), bytes. */
  vmHwm: number;
}

/** Reads VmRSS and VmHWM of a process from /proc/<pid>/status (Linux). */
export function readProcStatus(pid: number): ProcMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
    return Number(match[1]) * 1024;
  };
  return { vmRss: kib('VmRSS'), vmHwm: kib('VmHWM') };
}
