// The one definition of an observed HTTP exchange. The proto (wire), the ClickHouse
// columns (storage) and the API items are all this shape, in snake_case.

import type { RoleName } from './exchange-item.ts';

export const ROLE_NAMES = ['unknown', 'server', 'client'] as const satisfies readonly RoleName[];
export type { RoleName };

/** Largest sample the kernel probe can copy; AGENT_HTTP_SAMPLE_BYTES is capped here. */
export const MAX_SAMPLE_BYTES = 8192;

export type { ExchangeItem } from './exchange-item.ts';

const SEGMENT_ID = /^(?:\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,}|[0-9A-Za-z_-]{20,})$/i;

/** Path template for grouping endpoints: ids, UUIDs, hashes and long tokens become {id}. */
export function pathTemplate(path: string): string {
  if (path.length === 0) return '/';
  let out = '';
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i === path.length || path.charCodeAt(i) === 47 /* / */) {
      const seg = path.slice(start, i);
      out += seg.length > 0 && SEGMENT_ID.test(seg) && /\d/.test(seg) ? '{id}' : seg;
      if (i < path.length) out += '/';
      start = i + 1;
    }
  }
  return out.length > 256 ? out.slice(0, 256) : out;
}

/** Nanoseconds since the epoch → RFC 3339 with nanoseconds, UTC. */
export function nsToRfc3339(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // 2026-11-27T01:02:03.123Z
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${iso.slice(0, 19)}.${frac}Z`;
}

/** Strips the IPv4-mapped prefix ClickHouse's IPv6 columns add. */
export function displayIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
