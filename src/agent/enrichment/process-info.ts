// Process name and container id per pid, from /proc, cached: one read per process, not per record.
import { readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';

const GENERIC_THREAD_NAMES = new Set(['MainThread', 'main']);

export interface ProcessInfo {
  comm: string;
  containerId: string;
}

const CONTAINER_ID = /(?:^|[/-])(?:docker-|cri-containerd-|crio-|libpod-|containerd-)?([0-9a-f]{64})(?:\.scope)?(?:\/|$)/;

/** Container id from /proc/<pid>/cgroup text (docker, containerd, CRI-O, podman; v1 and v2). */
export function containerIdFromCgroup(text: string): string {
  for (const line of text.split('\n')) {
    const path = line.slice(line.lastIndexOf(':') + 1);
    const m = CONTAINER_ID.exec(path);
    if (m) return m[1];
  }
  return '';
}

function exeName(link: string): string {
  try {
    return basename(readlinkSync(link));
  } catch {
    return '';
  }
}

const RENAMED_RECHECK_MS = 1000;

export class ProcessInfoCache {
  /** seen: the name the probe gave when the entry was made; another one means exec or a reused pid. */
  private readonly cache = new Map<number, { info: ProcessInfo; at: number; seen: string }>();
  private readonly procRoot: string;
  private readonly maxEntries: number;
  private readonly ttlMs: number;

  constructor(procRoot = '/proc', maxEntries = 16384, ttlMs = 60_000) {
    this.procRoot = procRoot;
    this.maxEntries = maxEntries;
    this.ttlMs = ttlMs;
  }

  /** nowMs: callers on the hot path pass a clock they keep coarsely. */
  get(pid: number, fallbackComm: string, now = Date.now()): ProcessInfo {
    const hit = this.cache.get(pid);
    // A name other than the one seen means exec or a reused pid: /proc is read again, but at most
    // once a second, as connections opened before a rename (process.title, prctl) keep the old
    // name and would otherwise cost two file reads per record.
    if (hit && now - hit.at < (hit.seen === fallbackComm ? this.ttlMs : RENAMED_RECHECK_MS)) return hit.info;
    const info: ProcessInfo = { comm: fallbackComm, containerId: '' };
    try {
      const comm = readFileSync(`${this.procRoot}/${pid}/comm`, 'utf8').trim();
      // Runtimes that rename their main thread (Node: "MainThread") are known by their executable.
      // An exiting process still has its comm but no exe link any more: the probe, which named
      // it from the executable while it ran, has the better name then.
      if (comm && !GENERIC_THREAD_NAMES.has(comm)) info.comm = comm;
      else if (comm) info.comm = exeName(`${this.procRoot}/${pid}/exe`) || (GENERIC_THREAD_NAMES.has(fallbackComm) ? comm : fallbackComm);
      info.containerId = containerIdFromCgroup(readFileSync(`${this.procRoot}/${pid}/cgroup`, 'utf8'));
    } catch {
      // The process is gone already: keep what the event told.
    }
    if (!hit && this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(pid, { info, at: now, seen: fallbackComm });
    return info;
  }
}
