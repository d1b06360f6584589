// Layered layout for the service map: callers left of what they call. A service sits one
// column right of its deepest caller (longest path), so a proxy stands between its clients and
// its upstreams instead of beside the upstream; calls that close a cycle do not push columns.
// A call that skips columns gets a waypoint in each column between (a free slot, as in
// Sugiyama's layout), so it passes between boxes rather than through them. Within a column,
// services and waypoints sit near the mean row of their callers (then callees), which keeps
// most edges from crossing.
import type { MapEdge, MapNode } from '../api.ts';

export interface Placed extends MapNode { x: number; y: number }
export interface Point { x: number; y: number }

/** How routes are keyed: one per (source, target). */
export const edgeKey = (source: string, target: string) => `${source}\n${target}`;

export const COL_W = 260;
export const ROW_H = 70;
const MAX_DEPTH = 8;

function append(m: Map<string, string[]>, key: string, value: string): void {
  const xs = m.get(key);
  if (xs) xs.push(value);
  else m.set(key, [value]);
}

/** Edges that close a cycle, found by depth-first search from the services nobody calls. */
function backEdges(ids: string[], out: Map<string, string[]>, roots: string[]): Set<string> {
  const state = new Map<string, 1 | 2>(); // 1: on the current path, 2: done
  const back = new Set<string>();
  const visit = (start: string) => {
    // Iterative: a long call chain must not exhaust the stack.
    const stack: Array<{ id: string; next: number }> = [{ id: start, next: 0 }];
    state.set(start, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const targets = out.get(top.id) ?? [];
      if (top.next >= targets.length) {
        state.set(top.id, 2);
        stack.pop();
        continue;
      }
      const t = targets[top.next++];
      const s = state.get(t);
      if (s === 1) back.add(`${top.id}\n${t}`);
      else if (s === undefined) {
        state.set(t, 1);
        stack.push({ id: t, next: 0 });
      }
    }
  };
  for (const r of roots) if (!state.has(r)) visit(r);
  for (const id of ids) if (!state.has(id)) visit(id); // services only inside cycles
  return back;
}

export function layout(nodes: MapNode[], edges: MapEdge[]): { placed: Map<string, Placed>; routes: Map<string, Point[]>; width: number; height: number } {
  const ids = nodes.map((n) => n.id).sort((a, b) => a.localeCompare(b));
  const known = new Set(ids);
  const calls = edges.filter((e) => e.source !== e.target && known.has(e.source) && known.has(e.target));
  const out = new Map<string, string[]>();
  const called = new Set<string>();
  for (const e of calls) {
    append(out, e.source, e.target);
    called.add(e.target);
  }
  const back = backEdges(ids, out, ids.filter((id) => !called.has(id)));
  const forward = calls.filter((e) => !back.has(edgeKey(e.source, e.target)));

  // Longest path over the forward edges (a DAG): relax until nothing moves.
  const depth = new Map<string, number>(ids.map((id) => [id, 0]));
  for (let pass = 0, moved = true; moved && pass <= ids.length; pass++) {
    moved = false;
    for (const e of forward) {
      const d = Math.min(MAX_DEPTH, depth.get(e.source)! + 1);
      if (d > depth.get(e.target)!) {
        depth.set(e.target, d);
        moved = true;
      }
    }
  }

  // Longest path leaves no column empty: column d holds those at depth d, and waypoints.
  const columns: string[][] = [];
  for (const id of ids) (columns[depth.get(id)!] ??= []).push(id);
  const callers = new Map<string, string[]>();
  const callees = new Map<string, string[]>();
  const link = (a: string, b: string) => {
    append(callers, b, a);
    append(callees, a, b);
  };
  const waypoints = new Map<string, string[]>();
  for (const e of forward) {
    const from = depth.get(e.source)!;
    const to = depth.get(e.target)!;
    if (from >= to) continue; // both folded into the last column
    let prev = e.source;
    const via: string[] = [];
    for (let d = from + 1; d < to; d++) {
      const w = `\u0000${edgeKey(e.source, e.target)}\n${d}`;
      columns[d].push(w);
      via.push(w);
      link(prev, w);
      prev = w;
    }
    link(prev, e.target);
    if (via.length > 0) waypoints.set(edgeKey(e.source, e.target), via);
  }
  const row = new Map<string, number>();
  const number = (col: string[]) => col.forEach((id, i) => row.set(id, i));
  columns.forEach(number);
  const mean = (xs: string[] | undefined, own: number) => (xs && xs.length > 0 ? xs.reduce((s, x) => s + row.get(x)!, 0) / xs.length : own);
  // A few sweeps each way (barycentre ordering); ties keep the name order.
  for (let sweep = 0; sweep < 4; sweep++) {
    const order = sweep % 2 === 0 ? columns : [...columns].reverse();
    const nb = sweep % 2 === 0 ? callers : callees;
    for (const col of order) {
      const key = new Map(col.map((id) => [id, mean(nb.get(id), row.get(id)!)]));
      col.sort((a, b) => key.get(a)! - key.get(b)! || a.localeCompare(b));
      number(col);
    }
  }

  const maxRows = Math.max(1, ...columns.map((c) => c.length));
  const height = maxRows * ROW_H + 40;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const at = new Map<string, Point>();
  columns.forEach((col, d) => {
    col.forEach((id, i) => at.set(id, { x: 110 + d * COL_W, y: 40 + (i + 0.5) * ((height - 40) / col.length) - 20 }));
  });
  const placed = new Map<string, Placed>(ids.map((id) => [id, { ...byId.get(id)!, ...at.get(id)! }]));
  const routes = new Map([...waypoints].map(([key, via]) => [key, via.map((w) => at.get(w)!)]));
  return { placed, routes, width: Math.max(600, 220 + (columns.length - 1) * COL_W + 110), height };
}

/**
 * The SVG path of a call from box a to box b (centres; boxes 180 wide), through the free slot
 * of each column it skips (`via`), and where its label goes: on the first curve, where the
 * calls leaving one box fan out. A service calling itself loops off its box's right side.
 */
export function edgePath(a: Point, b: Point, self: boolean, via: Point[]): { d: string; lx: number; ly: number } {
  const x1 = a.x + 90;
  if (self) return { d: `M ${x1} ${a.y - 10} C ${x1 + 55} ${a.y - 45}, ${x1 + 55} ${a.y + 45}, ${x1} ${a.y + 10}`, lx: x1 + 6, ly: a.y + 40 };
  const stops = [...via.map((p) => [p.x - 90, p.y, p.x + 90]), [b.x - 90, b.y, b.x - 90]];
  let d = `M ${x1} ${a.y}`;
  let [px, py] = [x1, a.y];
  for (const [sx, sy, ex] of stops) {
    const mx = (px + sx) / 2;
    d += ` C ${mx} ${py}, ${mx} ${sy}, ${sx} ${sy}` + (ex !== sx ? ` L ${ex} ${sy}` : '');
    [px, py] = [ex, sy];
  }
  return { d, lx: (x1 + stops[0][0]) / 2, ly: (a.y + stops[0][1]) / 2 - 6 };
}
