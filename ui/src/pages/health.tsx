// Data health per agent: counters over time, last heard from, and a warning when data is lost.
import { api, type AgentHealth } from '../api.ts';
import { ago } from '../format.ts';
import { LineChart } from '../components/line-chart.tsx';
import { ErrorBox, Loading } from '../components/states.tsx';
import { useFetch } from '../components/use-fetch.ts';

const STALE_MS = 60_000;

function problems(a: AgentHealth, now: number): string[] {
  const p: string[] = [];
  const sum = (k: string) => a.series.reduce((s, x) => s + Number(x[k] ?? 0), 0);
  if (a.capture_status !== 'running' && a.capture_status !== 'stopped') p.push(`capture is not running: ${a.capture_status}`);
  if (now - new Date(a.last_seen).getTime() > STALE_MS && a.capture_status !== 'stopped') p.push(`not heard from since ${ago(a.last_seen, now)}`);
  if (sum('drops') > 0) p.push(`${sum('drops')} records dropped (queue full or rejected): the server acknowledged too slowly; give it more CPU, or raise AGENT_MAX_QUEUE to ride out short spells`);
  if (sum('kernel_drops') > 0) p.push(`${sum('kernel_drops')} events lost in the kernel ring buffer: the agent fell behind the traffic; give it more CPU`);
  if (sum('send_failures') > 0) p.push(`${sum('send_failures')} failed sends to the server (retried): check that SERVER_ADDR is reachable`);
  return p;
}

export function Health({ windowKey, setWindow }: { windowKey: string; setWindow: (w: string) => void }) {
  const { data, error, reload } = useFetch((s) => api.agents(windowKey, s), [windowKey], 10_000);
  if (error) return <ErrorBox error={error} retry={reload} />;
  if (!data) return <Loading what="agents" />;
  const now = Date.now();
  const latest = new Map<string, AgentHealth>();
  for (const a of data.agents) if (!latest.has(a.node) || latest.get(a.node)!.last_seen < a.last_seen) latest.set(a.node, a);
  return (
    <section className="health">
      <div className="toolbar">
        <h2>Data health</h2>
        <select aria-label="Time range" value={windowKey} onChange={(e) => setWindow(e.target.value)}>
          {['15m', '1h', '6h', '24h'].map((w) => <option key={w} value={w}>last {w}</option>)}
        </select>
        <span className="muted">{latest.size} node(s), {data.agents.length} agent run(s)</span>
      </div>
      {data.agents.length === 0 && (
        <div className="empty" data-testid="no-agents">
          <h2>No agent has reported</h2>
          <p>Start one on each node: <code>sudo SERVER_ADDR=this-server:50051 bin/heimdall agent</code> (or <code>npm start</code>, which runs a local agent). Agents report their counters every <code>AGENT_DIAGNOSTICS_INTERVAL</code> (15s).</p>
        </div>
      )}
      {data.agents.map((a) => {
        const p = problems(a, now);
        const current = latest.get(a.node) === a;
        return (
          <article key={a.agent_id} className={`agent ${current ? '' : 'old'}`} data-testid="agent-card">
            <header>
              <h3>{a.node}</h3>
              <span className={`badge ${a.capture_status === 'running' ? 'ok' : 'warn'}`}>{a.capture_status}</span>
              <span className="muted">agent {a.agent_id.slice(0, 8)} · v{a.version} · started {ago(a.started_at, now)} · last heard {ago(a.last_seen, now)} · queue {a.queue_length}</span>
            </header>
            {p.length > 0 && current && (
              <div className="warning" role="alert" data-testid="data-loss-warning">
                <strong>Data may be incomplete:</strong>
                <ul>{p.map((x) => <li key={x}>{x}</li>)}</ul>
              </div>
            )}
            <dl className="totals">
              {['events', 'matched', 'unmatched', 'drops', 'send_failures', 'kernel_drops'].map((k) => (
                <div key={k}><dt>{k.replace('_', ' ')}</dt><dd>{(a.totals[k] ?? 0).toLocaleString()}</dd></div>
              ))}
            </dl>
            <div className="charts small">
              <LineChart title="Events and exchanges" height={140} times={a.series.map((x) => String(x.time))} format={(v) => v.toFixed(0)}
                series={[{ name: 'events', color: 'var(--c1)', values: a.series.map((x) => Number(x.events)) }, { name: 'matched', color: 'var(--c2)', values: a.series.map((x) => Number(x.matched)) }, { name: 'unmatched', color: 'var(--c3)', values: a.series.map((x) => Number(x.unmatched)) }]} />
              <LineChart title="Losses" height={140} times={a.series.map((x) => String(x.time))} format={(v) => v.toFixed(0)}
                series={[{ name: 'drops', color: 'var(--bad)', values: a.series.map((x) => Number(x.drops)) }, { name: 'kernel drops', color: 'var(--c4)', values: a.series.map((x) => Number(x.kernel_drops)) }, { name: 'send failures', color: 'var(--c3)', values: a.series.map((x) => Number(x.send_failures)) }]} />
            </div>
          </article>
        );
      })}
    </section>
  );
}
