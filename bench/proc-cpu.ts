// CPU a process has used, from /proc/<pid>/stat: the benchmarks' measure of cost.
import { readFileSync, readdirSync } from 'node:fs';

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

/** CPU seconds per thread id, with the thread's name: shows whether JS or the engine's threads are busy. */
export function threadCpu(pid: number): Map<string, [string, number]> {
  const out = new Map<string, [string, number]>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ');
      out.set(tid, [readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim(), (Number(f[11]) + Number(f[12])) / USER_HZ]);
    } catch {
      // the thread ended between listing and reading
    }
  }
  return out;
}

export function byThreadName(before: Map<string, [string, number]>, after: Map<string, [string, number]>): string {
  const sum = new Map<string, number>();
  for (const [tid, [name, cpu]] of after) sum.set(name, (sum.get(name) ?? 0) + cpu - (before.get(tid)?.[1] ?? 0));
  return [...sum].filter(([, s]) => s >= 0.05).sort((a, b) => b[1] - a[1]).map(([n, s]) => `${n} ${s.toFixed(1)}s`).join(', ');
}
