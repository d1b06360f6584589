// CPU a process has used, from /proc/<pid>/stat: the benchmarks' measure of cost.
import { readFileSync } from 'node:fs';

/** Clock ticks per second in /proc's CPU times (per process and per thread). */
export const USER_HZ = 100;

/** User and system CPU seconds of a process so far (zeros once it is gone). */
export function procCpu(pid: number): { user: number; system: number } {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return { user: Number(f[11]) / USER_HZ, system: Number(f[12]) / USER_HZ };
  } catch {
    return { user: 0, system: 0 };
  }
}

/** User + system CPU seconds of a process so far. */
export function cpuSeconds(pid: number): number {
  const c = procCpu(pid);
  return c.user + c.system;
}
