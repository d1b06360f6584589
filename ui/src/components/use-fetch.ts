import { useCallback, useEffect, useState } from 'react';

/** Loads on mount and when deps change; optional polling; aborts stale requests. */
export function useFetch<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[], pollMs = 0) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    const ctl = new AbortController();
    load(ctl.signal).then(
      (d) => { setData(d); setError(null); },
      (e: Error) => { if (e.name !== 'AbortError') setError(e); },
    );
    return () => ctl.abort();
  }, [...deps, tick]);
  useEffect(() => {
    if (!pollMs) return;
    const t = setInterval(reload, pollMs);
    return () => clearInterval(t);
  }, [pollMs, reload]);
  return { data, error, reload };
}
