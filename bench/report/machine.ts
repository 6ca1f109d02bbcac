import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  kernel: string;
  /** Versions of the local services, when their binaries answer. */
  s3Service: string;
  redis: string;
  virtualized: string;
}

export function machineInfo(): MachineInfo {
  const cpuinfo = safe(() => readFileSync('/proc/cpuinfo', 'utf8'), '');
  const family = /^cpu family\s*:\s*(\d+)/m.exec(cpuinfo)?.[1];
  const model = /^model\s*:\s*(\d+)/m.exec(cpuinfo)?.[1];
  const name = cpus()[0]?.model?.trim() ?? 'unknown';
  return {
    cpu: family && model ? `${name} (family ${family}, model ${model})` : name,
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    kernel: `Linux ${release()}`,
    s3Service: `Ceph RGW ${firstWord(command('radosgw', ['--version']), /ceph version (\S+)/)} (memstore OSD, same machine)`,
    redis: `Redis ${firstWord(command('redis-server', ['--version']), /v=(\S+)/)} (same machine)`,
    virtualized: /^flags.*\bhypervisor\b/m.test(cpuinfo) ? 'virtual machine' : 'bare metal',
  };
}

function command(file: string, args: string[]): string {
  return safe(
    () => execFileSync(file, args, { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }),
    '',
  );
}

function firstWord(text: string, pattern: RegExp): string {
  return pattern.exec(text)?.[1] ?? '(version unknown)';
}

function safe<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}
