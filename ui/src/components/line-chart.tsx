// Time-series line chart in plain SVG: a few series, a y axis, hover read-out.
import { useMemo, useState } from 'react';

/** null: no value for that time (e.g. no requests, so no latency): the line breaks there. */
export interface Series { name: string; color: string; values: (number | null)[] }

interface Props {
  title: string;
  times: string[];
  series: Series[];
  /** unitOf: the axis's top value, so every tick is in one unit. */
  format: (v: number, unitOf?: number) => string;
  height?: number;
  testId?: string;
}

const W = 600;
const PAD = { l: 56, r: 12, t: 12, b: 22 };

export function LineChart({ title, times, series, format, height = 180, testId }: Props) {
  const [hover, setHover] = useState<number | null>(null);
  const H = height;
  const top = useMemo(() => Math.max(0, ...series.flatMap((s) => s.values.filter((v) => v !== null))), [series]);
  // Headroom above the highest point; all zero (a losses chart, usually): a 0 baseline alone.
  const yMax = top > 0 ? top * 1.1 : 1;
  const n = times.length;
  const x = (i: number) => PAD.l + (n <= 1 ? (W - PAD.l - PAD.r) / 2 : (i * (W - PAD.l - PAD.r)) / (n - 1));
  const y = (v: number) => PAD.t + (H - PAD.t - PAD.b) * (1 - v / yMax);
  const ticks = top > 0 ? [0, yMax / 2, yMax] : [0];
  const label = (iso: string) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });
  return (
    <figure className="chart" data-testid={testId}>
      <figcaption>
        {title}
        <span className="legend">
          {series.map((s) => (
            <span key={s.name}>
              <i style={{ background: s.color }} /> {s.name}
              {hover !== null && s.values[hover] !== undefined ? `: ${s.values[hover] === null ? '–' : format(s.values[hover])}` : ''}
            </span>
          ))}
        </span>
      </figcaption>
      {n === 0 ? (
        <div className="chart-empty">No data in this window</div>
      ) : (
        <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={title} onMouseLeave={() => setHover(null)}
          onMouseMove={(e) => {
            const r = (e.currentTarget as SVGSVGElement).getBoundingClientRect();
            const px = ((e.clientX - r.left) / r.width) * W;
            setHover(Math.max(0, Math.min(n - 1, Math.round(((px - PAD.l) / (W - PAD.l - PAD.r)) * (n - 1)))));
          }}>
          {ticks.map((t) => (
            <g key={t}>
              <line x1={PAD.l} x2={W - PAD.r} y1={y(t)} y2={y(t)} className="grid" />
              <text x={PAD.l - 6} y={y(t) + 4} textAnchor="end" className="axis">{format(t, ticks[ticks.length - 1])}</text>
            </g>
          ))}
          <text x={PAD.l} y={H - 4} className="axis">{label(times[0])}</text>
          <text x={W - PAD.r} y={H - 4} textAnchor="end" className="axis">{label(times[n - 1])}</text>
          {series.map((s) => (
            <g key={s.name}>
              {segments(s.values).map((seg) =>
                seg.length === 1 ? (
                  <circle key={seg[0]} cx={x(seg[0])} cy={y(s.values[seg[0]]!)} r={3} fill={s.color} />
                ) : (
                  <polyline key={seg[0]} fill="none" stroke={s.color} strokeWidth={2} points={seg.map((i) => `${x(i)},${y(s.values[i]!)}`).join(' ')} className="series" />
                ),
              )}
            </g>
          ))}
          {hover !== null && <line x1={x(hover)} x2={x(hover)} y1={PAD.t} y2={H - PAD.b} className="cursor" />}
        </svg>
      )}
    </figure>
  );
}

/** Runs of indexes with a value: each is drawn as one line (a single point as a dot). */
function segments(values: (number | null)[]): number[][] {
  const out: number[][] = [];
  let run: number[] = [];
  values.forEach((v, i) => {
    if (v === null) {
      if (run.length) out.push(run);
      run = [];
    } else run.push(i);
  });
  if (run.length) out.push(run);
  return out;
}
