// Landing page: newest exchanges, live, filterable (filters live in the URL), paged by cursor.
import { memo, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { api, type Exchange } from '../api.ts';
import { fmtDuration, fmtTime, statusClass } from '../format.ts';
import { navigate, type Location } from '../router.ts';
import { EmptyTraffic, ErrorBox, Loading } from '../components/states.tsx';

export const FILTERS = ['method', 'status', 'host', 'path', 'endpoint', 'node', 'namespace', 'pod', 'process', 'role', 'tls', 'min_duration_ms'] as const;
export const WINDOWS: Record<string, number> = { '5m': 5 * 60e3, '15m': 15 * 60e3, '1h': 3600e3, '6h': 6 * 3600e3, '24h': 24 * 3600e3, '7d': 7 * 24 * 3600e3 };
const POLL_MS = 2000;
/** Rows have a fixed height so only the visible window is rendered, however many are loaded. */
const ROW_H = 29;
const OVERSCAN = 20;

function apiParams(search: URLSearchParams, sinceIso: string, limit: number): URLSearchParams {
  const p = new URLSearchParams();
  for (const f of FILTERS) {
    const v = search.get(f);
    if (v) p.set(f, v);
  }
  p.set('since', sinceIso);
  p.set('limit', String(limit));
  return p;
}

// Memoised with stable callbacks: a new page or a selection change re-renders only the rows it touches.
const Row = memo(function Row({ x, index, selected, onOpen }: { x: Exchange; index: number; selected: boolean; onOpen: (id: string, index: number) => void }) {
  return (
    <tr className={selected ? 'selected' : undefined} onClick={() => onOpen(x.id, index)} data-id={x.id} aria-selected={selected}>
      <td className="mono">{fmtTime(x.timestamp)}</td>
      <td><span className={`role role-${x.role}`}>{x.role}</span></td>
      <td className="mono">{x.method}</td>
      <td className="host" title={x.tls ? `${x.host} (HTTPS, read in clear)` : x.host}>{x.tls && <span className="tls" aria-label="HTTPS">TLS</span>}{x.host}</td>
      <td className="path" title={x.query ? `${x.path}?${x.query}` : x.path}>{x.path}{x.query && <span className="query">?{x.query}</span>}</td>
      <td>
        <span className={`status ${statusClass(x.status, x.unmatched)}`}>{x.unmatched ? '—' : x.status}</span>
        {/* A failed gRPC call still answers HTTP 200: its grpc-status says it failed. */}
        {x.grpc_status && x.grpc_status !== '0' && x.status < 400 && <span className="status st-5xx grpc" title={`gRPC status ${x.grpc_status}`}> gRPC {x.grpc_status}</span>}
      </td>
      <td className="num mono">{x.unmatched ? 'no reply' : fmtDuration(x.duration_ms)}</td>
      <td>{x.node}</td>
      <td title={x.pod ? `${x.namespace}/${x.pod}` : `${x.process} (pid ${x.pid})`}>{x.pod ? `${x.namespace}/${x.pod}` : x.process}</td>
    </tr>
  );
});

export function Traffic({ loc }: { loc: Location }) {
  const search = loc.search;
  const windowKey = WINDOWS[search.get('window') ?? ''] ? search.get('window')! : '1h';
  const filterKey = FILTERS.map((f) => search.get(f) ?? '').join('|') + windowKey;
  const [rows, setRows] = useState<Exchange[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<Error | null>(null);
  const [paused, setPaused] = useState(false);
  const [selected, setSelected] = useState(0);
  const [fresh, setFresh] = useState(0);
  const wrapRef = useRef<HTMLDivElement>(null);
  const [view, setView] = useState({ top: 0, height: 900 });
  const sentinel = useRef<HTMLDivElement>(null);
  const loadingMore = useRef(false);
  const sinceIso = useMemo(() => new Date(Date.now() - WINDOWS[windowKey]).toISOString(), [windowKey, filterKey]);

  const load = useCallback(async () => {
    setLoading(true);
    try {
      const page = await api.logs(apiParams(search, sinceIso, 200));
      setRows(page.items);
      setNext(page.next);
      setError(null);
      setSelected(0);
    } catch (e) {
      setError(e as Error);
    } finally {
      setLoading(false);
    }
  }, [filterKey, sinceIso]);

  useEffect(() => {
    void load();
  }, [load]);

  // Live: fetch what is newer than the newest row and put it on top.
  useEffect(() => {
    if (paused) return;
    const t = setInterval(async () => {
      try {
        const newest = rows[0]?.timestamp ?? sinceIso;
        const page = await api.logs(apiParams(search, newest, 500));
        const known = new Set(rows.slice(0, 1000).map((r) => r.id));
        const add = page.items.filter((r) => !known.has(r.id));
        if (add.length) {
          setRows((cur) => [...add, ...cur].slice(0, 20000));
          setSelected((s) => (s > 0 ? s + add.length : s));
          setFresh(add.length);
        }
      } catch {
        // keep the last view; the next poll tries again
      }
    }, POLL_MS);
    return () => clearInterval(t);
  }, [paused, rows, filterKey, sinceIso]);

  const loadMore = useCallback(async () => {
    if (!next || loadingMore.current) return;
    loadingMore.current = true;
    try {
      const p = apiParams(search, sinceIso, 200);
      p.set('cursor', next);
      const page = await api.logs(p);
      setRows((cur) => [...cur, ...page.items]);
      setNext(page.next);
    } catch (e) {
      setError(e as Error);
    } finally {
      loadingMore.current = false;
    }
  }, [next, filterKey, sinceIso]);

  useEffect(() => {
    const el = sentinel.current;
    if (!el) return;
    const io = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && void loadMore(), { rootMargin: '400px' });
    io.observe(el);
    return () => io.disconnect();
  }, [loadMore]);

  const open = useCallback((id: string, index?: number) => {
    if (index !== undefined) setSelected(index);
    navigate(`/requests/${id}`);
  }, []);

  const setFilter = (name: string, value: string) => {
    const p = new URLSearchParams(search);
    if (value) p.set(name, value);
    else p.delete(name);
    navigate(`/?${p}`, { replace: true });
  };

  const onKey = (e: React.KeyboardEvent) => {
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
    const move = (to: number) => {
      e.preventDefault();
      const i = Math.max(0, Math.min(rows.length - 1, to));
      setSelected(i);
      const el = wrapRef.current;
      if (el) {
        const y = i * ROW_H;
        if (y < el.scrollTop + ROW_H) el.scrollTop = Math.max(0, y - ROW_H);
        else if (y + 2 * ROW_H > el.scrollTop + el.clientHeight) el.scrollTop = y + 3 * ROW_H - el.clientHeight;
      }
    };
    if (e.key === 'ArrowDown' || e.key === 'j') move(selected + 1);
    else if (e.key === 'ArrowUp' || e.key === 'k') move(selected - 1);
    else if (e.key === 'Home') move(0);
    else if (e.key === 'End') move(rows.length - 1);
    else if (e.key === 'Enter' && rows[selected]) open(rows[selected].id);
    else if (e.key === ' ') {
      e.preventDefault();
      setPaused((p) => !p);
    }
  };

  const activeFilters = FILTERS.filter((f) => search.get(f));
  const first = Math.max(0, Math.floor(view.top / ROW_H) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((view.top + view.height) / ROW_H) + OVERSCAN);
  return (
    <section className="traffic" onKeyDown={onKey}>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <select aria-label="Method" value={search.get('method') ?? ''} onChange={(e) => setFilter('method', e.target.value)}>
          <option value="">any method</option>
          {['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'].map((m) => <option key={m}>{m}</option>)}
        </select>
        <select aria-label="Status" value={search.get('status') ?? ''} onChange={(e) => setFilter('status', e.target.value)}>
          <option value="">any status</option>
          {['2xx', '3xx', '4xx', '5xx'].map((s) => <option key={s}>{s}</option>)}
        </select>
        <select aria-label="Role" value={search.get('role') ?? ''} onChange={(e) => setFilter('role', e.target.value)}>
          <option value="">both sides</option>
          <option value="server">server side</option>
          <option value="client">client side</option>
        </select>
        <select aria-label="Scheme" value={search.get('tls') ?? ''} onChange={(e) => setFilter('tls', e.target.value)}>
          <option value="">http and https</option>
          <option value="true">https only</option>
          <option value="false">http only</option>
        </select>
        {(['host', 'path', 'node', 'namespace', 'pod', 'process'] as const).map((f) => (
          <TextFilter key={f} name={f} value={search.get(f) ?? ''} onChange={(v) => setFilter(f, v)} placeholder={f === 'path' ? 'path prefix' : f} />
        ))}
        <TextFilter name="min_duration_ms" value={search.get('min_duration_ms') ?? ''} onChange={(v) => setFilter('min_duration_ms', v)} placeholder="min ms" narrow />
        <select aria-label="Time range" value={windowKey} onChange={(e) => setFilter('window', e.target.value)}>
          {Object.keys(WINDOWS).map((w) => <option key={w} value={w}>last {w}</option>)}
        </select>
        <button type="button" className={paused ? 'live paused' : 'live'} onClick={() => setPaused((p) => !p)} aria-pressed={!paused} title="Space toggles">
          {paused ? '▶ Resume' : '❚❚ Pause'}
        </button>
        {activeFilters.length > 0 && (
          <button type="button" className="link" onClick={() => navigate('/', { replace: true })}>clear filters</button>
        )}
      </form>
      {search.get('endpoint') && <div className="chip">endpoint: {search.get('method') ?? ''} {search.get('host') ?? ''}{search.get('endpoint')}</div>}
      {error && <ErrorBox error={error} retry={load} />}
      {loading && rows.length === 0 ? (
        <Loading what="traffic" />
      ) : rows.length === 0 && !error ? (
        activeFilters.length ? <div className="empty">No exchanges match these filters in the last {windowKey}.</div> : <EmptyTraffic />
      ) : (
        <div className="table-wrap" ref={wrapRef} tabIndex={0} aria-label="Exchanges; arrow keys move, Enter opens, Space pauses"
          onScroll={(e) => {
            // Re-render only when the window moves by a block of rows; in between the browser just scrolls.
            const el = e.currentTarget;
            const top = Math.floor(el.scrollTop / (ROW_H * 8)) * ROW_H * 8;
            setView((v) => (v.top === top && v.height === el.clientHeight ? v : { top, height: el.clientHeight }));
          }}>
          <div className="table-meta">
            {rows.length} shown{next ? ', more below' : ''} · {paused ? 'paused' : `live, every ${POLL_MS / 1000}s`}
            {fresh > 0 && !paused && <span className="fresh"> · +{fresh} new</span>}
          </div>
          <table className="grid-table" data-testid="traffic-table">
            <thead>
              <tr><th>Time</th><th>Role</th><th>Method</th><th>Host</th><th>Path</th><th>Status</th><th className="num">Duration</th><th>Node</th><th>Pod / process</th></tr>
            </thead>
            <tbody>
              {first > 0 && <tr className="spacer" style={{ height: first * ROW_H }} aria-hidden />}
              {rows.slice(first, last).map((x, i) => <Row key={x.id} x={x} index={first + i} selected={first + i === selected} onOpen={open} />)}
              {last < rows.length && <tr className="spacer" style={{ height: (rows.length - last) * ROW_H }} aria-hidden />}
            </tbody>
          </table>
          <div ref={sentinel} className="sentinel">{next ? <button onClick={() => void loadMore()}>Load more</button> : rows.length > 0 && 'End of the time range'}</div>
        </div>
      )}
    </section>
  );
}

function TextFilter({ name, value, onChange, placeholder, narrow }: { name: string; value: string; onChange: (v: string) => void; placeholder: string; narrow?: boolean }) {
  const [v, setV] = useState(value);
  useEffect(() => setV(value), [value]);
  useEffect(() => {
    if (v === value) return;
    const t = setTimeout(() => onChange(v.trim()), 400);
    return () => clearTimeout(t);
  }, [v]);
  return <input aria-label={placeholder} name={name} className={narrow ? 'narrow' : undefined} value={v} placeholder={placeholder} onChange={(e) => setV(e.target.value)} onKeyDown={(e) => e.key === 'Enter' && onChange(v.trim())} />;
}
