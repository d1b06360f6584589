// Services (processes / pods) as nodes, observed calls as edges, laid out in columns by call depth
// (components/map-layout.ts).
import { useMemo, useState } from 'react';
import { api, type MapEdge } from '../api.ts';
import { fmtDuration, fmtPct, fmtRate } from '../format.ts';
import { ErrorBox, Loading } from '../components/states.tsx';
import { useFetch } from '../components/use-fetch.ts';
import { edgeKey, edgePath, layout } from '../components/map-layout.ts';

export function ServiceMap({ windowKey, setWindow }: { windowKey: string; setWindow: (w: string) => void }) {
  const { data, error, reload } = useFetch((s) => api.map(windowKey, s), [windowKey], 15_000);
  const [hover, setHover] = useState<MapEdge | null>(null);
  const lay = useMemo(() => (data ? layout(data.nodes, data.edges) : null), [data]);
  if (error) return <ErrorBox error={error} retry={reload} />;
  if (!data || !lay) return <Loading what="service map" />;
  return (
    <section className="map">
      <div className="toolbar">
        <h2>Service map</h2>
        <select aria-label="Time range" value={windowKey} onChange={(e) => setWindow(e.target.value)}>
          {['5m', '15m', '1h', '6h', '24h'].map((w) => <option key={w} value={w}>last {w}</option>)}
        </select>
        <span className="muted">Callers on the left. Built from client-side and server-side records; hover an edge for rate, errors and p95.</span>
      </div>
      {data.nodes.length === 0 ? (
        <div className="empty">No calls observed in the last {windowKey}.</div>
      ) : (
        <div className="map-wrap">
          <svg viewBox={`0 0 ${lay.width} ${lay.height}`} width={lay.width} height={lay.height} data-testid="service-map" role="img" aria-label="Service map">
            <defs>
              <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" markerHeight="9" markerUnits="userSpaceOnUse" orient="auto-start-reverse">
                <path d="M 0 0 L 10 5 L 0 10 z" className="arrow" />
              </marker>
            </defs>
            {data.edges.map((e) => {
              const a = lay.placed.get(e.source);
              const b = lay.placed.get(e.target);
              if (!a || !b) return null;
              const self = a.id === b.id;
              const { d, lx, ly } = edgePath(a, b, self, lay.routes.get(edgeKey(e.source, e.target)) ?? []);
              return (
                <g key={`${e.source}->${e.target}`} className={`edge ${e.error_rate > 0.01 ? 'edge-bad' : ''}`} data-edge={`${e.source}->${e.target}`}
                  onMouseEnter={() => setHover(e)} onMouseLeave={() => setHover(null)}>
                  <path d={d} markerEnd="url(#arrow)" strokeWidth={Math.min(8, 1.5 + Math.log10(1 + e.requests))} />
                  <path d={d} className="hit" />
                  <title>{`${e.source} → ${e.target}: ${fmtRate(e.rate)}, errors ${fmtPct(e.error_rate)}, p95 ${fmtDuration(e.p95_ms)}`}</title>
                  <text x={lx} y={ly} textAnchor={self ? 'start' : 'middle'} className="edge-label">{fmtRate(e.rate)}</text>
                </g>
              );
            })}
            {[...lay.placed.values()].map((n) => (
              <g key={n.id} className={`svc svc-${n.kind}`} transform={`translate(${n.x - 90}, ${n.y - 20})`} data-node={n.id}>
                <rect width={180} height={40} rx={8} />
                <text x={90} y={18} textAnchor="middle" className="svc-name">{n.id.length > 24 ? `${n.id.slice(0, 23)}…` : n.id}</text>
                <text x={90} y={32} textAnchor="middle" className="svc-kind">{n.kind}{n.node ? ` · ${n.node}` : ''}</text>
              </g>
            ))}
          </svg>
          {hover && (
            <div className="map-tip" role="tooltip">
              <strong>{hover.source} → {hover.target}</strong>
              <div>{fmtRate(hover.rate)} · {hover.requests} requests</div>
              <div>errors {fmtPct(hover.error_rate)} · p95 {fmtDuration(hover.p95_ms)}</div>
            </div>
          )}
        </div>
      )}
    </section>
  );
}
