// RED overview: rate, errors and latency over time, and the top endpoints (sortable).
import { useMemo, useState } from 'react';
import { api, type EndpointRow, type Stats } from '../api.ts';
import { fmtDuration, fmtPct, fmtRate } from '../format.ts';
import { navigate } from '../router.ts';
import { LineChart } from '../components/line-chart.tsx';
import { ErrorBox, Loading } from '../components/states.tsx';
import { useFetch } from '../components/use-fetch.ts';

type SortKey = keyof Pick<EndpointRow, 'endpoint' | 'rate' | 'errors' | 'error_rate' | 'p50_ms' | 'p95_ms' | 'p99_ms'>;
const COLS: [SortKey, string][] = [['rate', 'Rate'], ['errors', 'Errors'], ['error_rate', 'Error rate'], ['p50_ms', 'p50'], ['p95_ms', 'p95'], ['p99_ms', 'p99']];

/**
 * Every bucket of the window up to now, in order: the API returns only buckets with traffic,
 * and charting those side by side would close the gaps between them. A quiet bucket has no
 * point (rates chart as 0, latency breaks).
 */
function timeline(data: Stats): { times: string[]; points: (Stats['series'][number] | null)[] } {
  const step = data.bucket_seconds * 1000;
  if (data.series.length === 0 || !(step > 0)) return { times: data.series.map((p) => p.time), points: data.series };
  const at = new Map(data.series.map((p) => [Date.parse(p.time), p]));
  // Buckets are a whole number of steps from any returned one: start at the one holding `since`.
  let t = Date.parse(data.series[0].time);
  const since = Date.parse(data.since);
  while (t > since) t -= step;
  // Up to now (or `until`), and never before the newest bucket returned (the browser's clock may lag).
  const end = Math.max(Date.parse(data.series[data.series.length - 1].time), Math.min(Date.parse(data.until), Date.now()));
  const times: string[] = [];
  const points: (Stats['series'][number] | null)[] = [];
  for (; t <= end && times.length < 5000; t += step) {
    times.push(new Date(t).toISOString());
    points.push(at.get(t) ?? null);
  }
  return { times, points };
}

interface OverviewProps { windowKey: string; setWindow: (w: string) => void; role: string; setRole: (r: string) => void }

export function Overview({ windowKey, setWindow, role, setRole }: OverviewProps) {
  const { data, error, reload } = useFetch((s) => api.stats(windowKey, role, s), [windowKey, role], 10_000);
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean }>({ key: 'rate', desc: true });
  const rows = useMemo(() => {
    const xs = [...(data?.endpoints ?? [])];
    xs.sort((a, b) => {
      const va = a[sort.key];
      const vb = b[sort.key];
      const c = typeof va === 'string' ? va.localeCompare(vb as string) : (va as number) - (vb as number);
      return sort.desc ? -c : c;
    });
    return xs;
  }, [data, sort]);
  if (error) return <ErrorBox error={error} retry={reload} />;
  if (!data) return <Loading what="overview" />;
  const g = timeline(data);
  const total = data.series.reduce((a, p) => a + p.requests, 0);
  const errors = data.series.reduce((a, p) => a + p.errors, 0);
  const header = (key: SortKey, label: string) => (
    <th className={key === 'endpoint' ? undefined : 'num'} aria-sort={sort.key === key ? (sort.desc ? 'descending' : 'ascending') : 'none'}>
      <button className="sort" onClick={() => setSort((s) => ({ key, desc: s.key === key ? !s.desc : true }))}>
        {label}{sort.key === key ? (sort.desc ? ' ↓' : ' ↑') : ''}
      </button>
    </th>
  );
  return (
    <section className="overview">
      <div className="toolbar">
        <h2>Overview</h2>
        <select aria-label="Time range" value={windowKey} onChange={(e) => setWindow(e.target.value)}>
          {['15m', '1h', '6h', '24h', '7d'].map((w) => <option key={w} value={w}>last {w}</option>)}
        </select>
        {/* A call between two traced processes is recorded on both sides: one side counts it once. */}
        <select aria-label="Role" value={role} onChange={(e) => setRole(e.target.value)}>
          <option value="">both sides</option>
          <option value="server">server side (inbound)</option>
          <option value="client">client side (outbound)</option>
        </select>
        <span className="muted" data-testid="overview-summary">
          {total.toLocaleString()} {role ? 'requests' : 'records (a call seen by both ends counts twice)'}, {errors.toLocaleString()} server errors, per {data.bucket_seconds / 60} min
        </span>
      </div>
      {total === 0 ? (
        <div className="empty">No traffic in the last {windowKey}. Charts fill in as the agent captures requests (aggregated per minute).</div>
      ) : null}
      <div className="charts">
        <LineChart testId="chart-rate" title="Request rate" times={g.times} series={[{ name: 'req/s', color: 'var(--c1)', values: g.points.map((p) => p?.rate ?? 0) }]} format={fmtRate} />
        <LineChart testId="chart-errors" title="Error rate (5xx)" times={g.times} series={[{ name: 'errors', color: 'var(--bad)', values: g.points.map((p) => p?.error_rate ?? 0) }]} format={fmtPct} />
        <LineChart testId="chart-latency" title="Latency" times={g.times} format={fmtDuration}
          series={[
            { name: 'p50', color: 'var(--c2)', values: g.points.map((p) => p?.p50_ms ?? null) },
            { name: 'p95', color: 'var(--c3)', values: g.points.map((p) => p?.p95_ms ?? null) },
            { name: 'p99', color: 'var(--c4)', values: g.points.map((p) => p?.p99_ms ?? null) },
          ]} />
      </div>
      <h3>Top endpoints</h3>
      <table className="grid-table" data-testid="endpoints-table">
        <thead>
          <tr><th>Method</th><th>Host</th>{header('endpoint', 'Endpoint')}{COLS.map(([k, l]) => <Fragment key={k}>{header(k, l)}</Fragment>)}</tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={`${r.method} ${r.host} ${r.endpoint}`} tabIndex={0}
              onClick={() => navigate(`/?${new URLSearchParams({ method: r.method, host: r.host, endpoint: r.endpoint, window: windowKey, ...(role ? { role } : {}) })}`)}
              onKeyDown={(e) => e.key === 'Enter' && (e.currentTarget as HTMLElement).click()}>
              <td className="mono">{r.method}</td><td>{r.host}</td><td className="path">{r.endpoint}</td>
              <td className="num">{fmtRate(r.rate)}</td><td className="num">{r.errors}</td>
              <td className={`num ${r.error_rate > 0.01 ? 'bad' : ''}`}>{fmtPct(r.error_rate)}</td>
              <td className="num">{fmtDuration(r.p50_ms)}</td><td className="num">{fmtDuration(r.p95_ms)}</td><td className="num">{fmtDuration(r.p99_ms)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Fragment({ children }: { children: React.ReactNode }) {
  return <>{children}</>;
}
