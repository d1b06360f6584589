/** `unitOf`: the value whose size picks the unit (an axis labels every tick in its top tick's unit). */
export function fmtDuration(ms: number, unitOf = ms): string {
  if (unitOf < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (unitOf < 1000) return `${ms < 10 && ms !== 0 ? ms.toFixed(2) : ms.toFixed(0)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function fmtTime(iso: string): string {
  const d = new Date(iso);
  return `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

export function fmtRate(perSecond: number, unitOf = perSecond): string {
  if (unitOf >= 100) return `${perSecond.toFixed(0)}/s`;
  if (unitOf >= 1) return `${perSecond.toFixed(1)}/s`;
  const perMinute = perSecond * 60;
  // One request in an hour is 0.02/min, not 0.0/min.
  return perMinute > 0 && perMinute < 0.1 ? `${perMinute.toPrecision(1)}/min` : `${perMinute.toFixed(1)}/min`;
}

export function fmtPct(x: number): string {
  return `${(x * 100).toFixed(x > 0 && x < 0.01 ? 2 : 1)}%`;
}

export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}

export function statusClass(status: number, unmatched: boolean): string {
  if (unmatched) return 'st-unmatched';
  if (status >= 500) return 'st-5xx';
  if (status >= 400) return 'st-4xx';
  if (status >= 300) return 'st-3xx';
  return 'st-2xx';
}
