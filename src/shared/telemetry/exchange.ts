// The one definition of an observed HTTP exchange. The proto (wire), the ClickHouse
// columns (storage) and the API items are all this shape, in snake_case.
import { isIP } from 'node:net';
import type { HttpExchange } from '../proto/gen/heimdall/v1/ingest.ts';

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

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MIN_TS = 946_684_800_000_000_000n; // 2000-01-01
const DAY_NS = 86_400_000_000_000n;

const STRING_LIMITS: [keyof HttpExchange, number][] = [
  ['node', 256], ['process', 256], ['containerId', 256], ['namespace', 256], ['pod', 256], ['container', 256],
  ['host', 1024], ['path', 8192], ['query', 8192], ['httpVersion', 16], ['userAgent', 1024], ['traceparent', 256],
];

const SNAKE: Record<string, string> = {
  containerId: 'container_id', httpVersion: 'http_version', userAgent: 'user_agent',
  requestSample: 'request_sample', responseSample: 'response_sample',
};

/** Returns a message naming the field and the problem, or null when the record is valid. */
export function validateWireExchange(x: HttpExchange, nowNs: bigint): string | null {
  if (!UUID.test(x.id)) return `id: ${JSON.stringify(x.id.slice(0, 40))} is not a UUID`;
  if (x.timestampUnixNano < MIN_TS || x.timestampUnixNano > nowNs + DAY_NS)
    return `timestamp_unix_nano: ${x.timestampUnixNano} is outside 2000-01-01 .. now+1d`;
  if (x.durationNs > 7n * DAY_NS) return `duration_ns: ${x.durationNs} is longer than 7 days`;
  if (x.role < 0 || x.role > 2) return `role: ${x.role} is not 0 (unspecified), 1 (server) or 2 (client)`;
  if (x.srcPort > 65535) return `src_port: ${x.srcPort} is out of range 0-65535`;
  if (x.dstPort > 65535) return `dst_port: ${x.dstPort} is out of range 0-65535`;
  if (x.srcIp !== '' && isIP(x.srcIp) === 0) return `src_ip: ${JSON.stringify(x.srcIp.slice(0, 60))} is not an IP address`;
  if (x.dstIp !== '' && isIP(x.dstIp) === 0) return `dst_ip: ${JSON.stringify(x.dstIp.slice(0, 60))} is not an IP address`;
  if (x.status > 999) return `status: ${x.status} is out of range 0-999`;
  if (!x.unmatched && x.status < 100) return `status: ${x.status} is not a valid HTTP status (unmatched is false)`;
  if (x.method !== '' && !TOKEN.test(x.method)) return `method: ${JSON.stringify(x.method.slice(0, 40))} is not an HTTP method token`;
  for (const [field, max] of STRING_LIMITS) {
    const v = x[field] as string;
    if (v.length > max) return `${SNAKE[field] ?? field}: ${v.length} characters is longer than ${max}`;
  }
  if (x.requestSample.length > MAX_SAMPLE_BYTES) return `request_sample: ${x.requestSample.length} bytes is longer than ${MAX_SAMPLE_BYTES}`;
  if (x.responseSample.length > MAX_SAMPLE_BYTES) return `response_sample: ${x.responseSample.length} bytes is longer than ${MAX_SAMPLE_BYTES}`;
  const labels = Object.entries(x.labels);
  if (labels.length > 64) return `labels: ${labels.length} entries is more than 64`;
  for (const [k, v] of labels) if (k.length > 256 || v.length > 1024) return `labels: entry ${JSON.stringify(k.slice(0, 40))} is too long`;
  return null;
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
