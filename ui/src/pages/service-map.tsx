// Services (processes / pods) as nodes, observed calls as edges, laid out in columns by call depth.
import { useMemo, useState } from 'react';
import { api, type MapEdge, type MapNode } from '../api.ts';
import { fmtDuration, fmtPct, fmtRate } from '../format.ts';
import { ErrorBox, Loading } from '../components/states.tsx';
import { useFetch } from '../components/use-fetch.ts';

interface Placed extends MapNode { x: number; y: number }

function layout(nodes: MapNode[], edges: MapEdge[]): { placed: Map<string, Placed>; width: number; height: number } {
  const incoming = new Map<string, number>();
  for (const e of edges) if (e.source !== e.target) incoming.set(e.target, (incoming.get(e.target) ?? 0) + 1);
  const depth = new Map<string, number>();
  const queue = nodes.filter((n) => !incoming.get(n.id)).map((n) => n.id);
  for (const id of queue) depth.set(id, 0);
  for (let i = 0; i < queue.length; i++) {
    const d = depth.get(queue[i])!;
    for (const e of edges) {
      if (e.source === queue[i] && !depth.has(e.target) && d < 8) {
        depth.set(e.target, d + 1);
        queue.push(e.target);
      }
    }
  }
  for (const n of nodes) if (!depth.has(n.id)) depth.set(n.id, 0);
  const cols = new Map<number, MapNode[]>();
  for (const n of nodes) cols.set(depth.get(n.id)!, [...(cols.get(depth.get(n.id)!) ?? []), n]);
  const colW = 260;
  const rowH = 70;
  const maxRows = Math.max(1, ...[...cols.values()].map((c) => c.length));
  const height = maxRows * rowH + 40;
  const placed = new Map<string, Placed>();
  for (const [d, col] of cols) {
    col.sort((a, b) => a.id.localeCompare(b.id));
    col.forEach((n, i) => placed.set(n.id, { ...n, x: 110 + d * colW, y: 40 + (i + 0.5) * ((height - 40) / col.length) - 20 }));
  }
  return { placed, width: Math.max(600, 220 + (cols.size - 1) * colW + 110), height };
}

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
              const x1 = a.x + 90;
              const x2 = b.x - 90;
              const mx = (x1 + x2) / 2;
              const self = a.id === b.id;
              // A service calling itself: a loop off the box's right side, labelled under it.
              const d = self ? `M ${x1} ${a.y - 10} C ${x1 + 55} ${a.y - 45}, ${x1 + 55} ${a.y + 45}, ${x1} ${a.y + 10}` : `M ${x1} ${a.y} C ${mx} ${a.y}, ${mx} ${b.y}, ${x2} ${b.y}`;
              const lx = self ? x1 + 6 : mx;
              const ly = self ? a.y + 40 : (a.y + b.y) / 2 - 6;
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
