// Every read the API makes. Only {name:Type} parameters reach the SQL; identifiers come
// from fixed lists here, never from the request.
import { HeimdallError } from '../../shared/errors.ts';
import { displayIp, nsToRfc3339, type ExchangeItem, type RoleName } from '../../shared/telemetry/exchange.ts';
import type { QueryParams, Store } from './store.ts';
import { GRPC_SERVER_ERRORS } from './schema.ts';

export interface LogFilters {
  method?: string;
  statusExact?: number;
  statusMin?: number;
  statusMax?: number;
  host?: string;
  pathPrefix?: string;
  endpoint?: string;
  node?: string;
  namespace?: string;
  pod?: string;
  process?: string;
  role?: RoleName;
  minDurationNs?: bigint;
  sinceNs?: bigint;
  untilNs?: bigint;
  unmatched?: boolean;
  tls?: boolean;
  /** A code, "error" (gRPC calls that did not end OK) or "any" (gRPC calls). */
  grpcStatus?: string;
}

export interface Cursor {
  tsNs: bigint;
  id: string;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(`${c.tsNs}:${c.id}`).toString('base64url');
}

export function decodeCursor(s: string): Cursor | null {
  const m = /^(\d{1,20}):([0-9a-f-]{36})$/.exec(Buffer.from(s, 'base64url').toString());
  return m ? { tsNs: BigInt(m[1]), id: m[2] } : null;
}

function where(f: LogFilters, p: QueryParams): string[] {
  const w: string[] = [];
  const eq = (col: string, v: string | undefined) => {
    if (v === undefined) return;
    p[col] = v;
    w.push(`${col} = {${col}:String}`);
  };
  eq('method', f.method);
  eq('host', f.host);
  eq('endpoint', f.endpoint);
  eq('node', f.node);
  eq('namespace', f.namespace);
  eq('pod', f.pod);
  eq('process', f.process);
  if (f.role) { p.role = f.role; w.push('role = {role:String}'); }
  if (f.statusExact !== undefined) { p.status = f.statusExact; w.push('status = {status:UInt16}'); }
  if (f.statusMin !== undefined) { p.smin = f.statusMin; p.smax = f.statusMax ?? 1000; w.push('status >= {smin:UInt16} AND status < {smax:UInt16}'); }
  if (f.pathPrefix !== undefined) { p.path = f.pathPrefix; w.push('startsWith(path, {path:String})'); }
  if (f.minDurationNs !== undefined) { p.mind = f.minDurationNs.toString(); w.push('duration_ns >= {mind:UInt64}'); }
  if (f.sinceNs !== undefined) { p.since = f.sinceNs.toString(); w.push(`ts >= fromUnixTimestamp64Nano({since:Int64}, 'UTC')`); }
  if (f.untilNs !== undefined) { p.until = f.untilNs.toString(); w.push(`ts < fromUnixTimestamp64Nano({until:Int64}, 'UTC')`); }
  if (f.unmatched !== undefined) { p.unm = f.unmatched; w.push('unmatched = {unm:Bool}'); }
  if (f.tls !== undefined) { p.tls = f.tls; w.push('tls = {tls:Bool}'); }
  if (f.grpcStatus === 'any') w.push(`grpc_status != ''`);
  else if (f.grpcStatus === 'error') w.push(`grpc_status NOT IN ('', '0')`);
  else if (f.grpcStatus !== undefined) { p.grpc = f.grpcStatus; w.push('grpc_status = {grpc:String}'); }
  return w;
}

const ITEM_COLUMNS = `id, toString(toUnixTimestamp64Nano(ts)) AS ts_ns, toString(duration_ns) AS dur_ns,
  node, pid, process, container_id, namespace, pod, container, labels, toString(role) AS role_name,
  toString(src_ip) AS src, src_port, toString(dst_ip) AS dst, dst_port, method, host, path, endpoint, query,
  http_version, status, request_bytes, response_bytes, user_agent, traceparent,
  toValidUTF8(request_sample) AS req_sample, toValidUTF8(response_sample) AS res_sample,
  request_truncated, response_truncated, unmatched, tls, grpc_status`;

interface ItemRow {
  id: string; ts_ns: string; dur_ns: string; node: string; pid: number; process: string; container_id: string;
  namespace: string; pod: string; container: string; labels: Record<string, string>; role_name: RoleName;
  src: string; src_port: number; dst: string; dst_port: number; method: string; host: string; path: string;
  endpoint: string; query: string; http_version: string; status: number; request_bytes: string | number;
  response_bytes: string | number; user_agent: string; traceparent: string; req_sample: string; res_sample: string;
  request_truncated: boolean | number; response_truncated: boolean | number; unmatched: boolean | number;
  tls: boolean | number;
  grpc_status: string;
}

function toItem(r: ItemRow): ExchangeItem {
  const ts = BigInt(r.ts_ns);
  const dur = BigInt(r.dur_ns);
  return {
    id: r.id, timestamp: nsToRfc3339(ts), timestamp_ns: r.ts_ns, duration_ns: r.dur_ns,
    duration_ms: Number(dur) / 1e6,
    node: r.node, pid: Number(r.pid), process: r.process, container_id: r.container_id, namespace: r.namespace,
    pod: r.pod, container: r.container, labels: r.labels, role: r.role_name,
    src_ip: displayIp(r.src), src_port: Number(r.src_port), dst_ip: displayIp(r.dst), dst_port: Number(r.dst_port),
    method: r.method, host: r.host, path: r.path, endpoint: r.endpoint, query: r.query, http_version: r.http_version,
    status: Number(r.status), request_bytes: Number(r.request_bytes), response_bytes: Number(r.response_bytes),
    user_agent: r.user_agent, traceparent: r.traceparent, request_sample: r.req_sample, response_sample: r.res_sample,
    request_truncated: Boolean(r.request_truncated), response_truncated: Boolean(r.response_truncated), unmatched: Boolean(r.unmatched),
    tls: Boolean(r.tls),
    grpc_status: r.grpc_status ?? '',
  };
}

const RECENT_NS = 15n * 60n * 1_000_000_000n;

export async function listLogs(store: Store, f: LogFilters, limit: number, cursor: Cursor | null): Promise<{ items: ExchangeItem[]; next: string | null }> {
  // "Newest first" with no lower bound: try the last 15 minutes first. The primary index then
  // skips older granules in every part; when that window is too thin, ask again unbounded.
  if (f.sinceNs === undefined && cursor === null) {
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const recent = await listLogs(store, { ...f, sinceNs: (f.untilNs ?? nowNs) - RECENT_NS }, limit, null);
    if (recent.next !== null) return recent;
  }
  const p: QueryParams = { lim: limit + 1 };
  const w = where(f, p);
  if (cursor) {
    p.cts = cursor.tsNs.toString();
    p.cid = cursor.id;
    w.push(`(ts < fromUnixTimestamp64Nano({cts:Int64}, 'UTC') OR (ts = fromUnixTimestamp64Nano({cts:Int64}, 'UTC') AND id < {cid:UUID}))`);
  }
  const sql = `SELECT ${ITEM_COLUMNS} FROM ${store.database}.http_exchanges
    ${w.length ? 'WHERE ' + w.join(' AND ') : ''} ORDER BY ts DESC, id DESC LIMIT {lim:UInt32}`;
  const rows = await store.query<ItemRow>(sql, p);
  const items = rows.slice(0, limit).map(toItem);
  const last = items[items.length - 1];
  const next = rows.length > limit && last ? encodeCursor({ tsNs: BigInt(last.timestamp_ns), id: last.id }) : null;
  return { items, next };
}

export async function getLog(store: Store, id: string): Promise<(ExchangeItem & { request_sample_base64: string; response_sample_base64: string }) | null> {
  const rows = await store.query<ItemRow & { req_b64: string; res_b64: string }>(
    `SELECT ${ITEM_COLUMNS}, base64Encode(request_sample) AS req_b64, base64Encode(response_sample) AS res_b64
     FROM ${store.database}.http_exchanges WHERE id = {id:UUID} LIMIT 1`,
    { id },
  );
  if (rows.length === 0) return null;
  return { ...toItem(rows[0]), request_sample_base64: rows[0].req_b64, response_sample_base64: rows[0].res_b64 };
}

export interface StatsFilters {
  node?: string;
  namespace?: string;
  role?: RoleName;
  host?: string;
  sinceNs: bigint;
  untilNs: bigint;
  bucketSeconds: number;
}

function aggWhere(f: StatsFilters, p: QueryParams): string {
  const w = [`minute >= toStartOfMinute(fromUnixTimestamp64Nano({since:Int64}, 'UTC'))`, `minute < fromUnixTimestamp64Nano({until:Int64}, 'UTC')`];
  p.since = f.sinceNs.toString();
  p.until = f.untilNs.toString();
  if (f.node) { p.node = f.node; w.push('node = {node:String}'); }
  if (f.namespace) { p.namespace = f.namespace; w.push('namespace = {namespace:String}'); }
  if (f.role) { p.role = f.role; w.push('role = {role:String}'); }
  if (f.host) { p.host = f.host; w.push('host = {host:String}'); }
  return w.join(' AND ');
}

const ns2ms = (v: unknown) => Math.round((Number(v) / 1e6) * 1000) / 1000;

export async function stats(store: Store, f: StatsFilters) {
  const p: QueryParams = { bucket: f.bucketSeconds };
  const w = aggWhere(f, p);
  const windowSeconds = Number(f.untilNs - f.sinceNs) / 1e9;
  const series = await store.query<{ t: string; requests: string; errors: string; q: number[] }>(
    `SELECT toString(toUnixTimestamp(toStartOfInterval(minute, toIntervalSecond({bucket:UInt32})))) AS t,
       sum(requests) AS requests, sum(errors) AS errors,
       quantilesTDigestMerge(0.5, 0.95, 0.99)(latency) AS q
     FROM ${store.database}.http_red_1m WHERE ${w} GROUP BY t ORDER BY t`,
    p,
  );
  const endpoints = await store.query<{ host: string; method: string; endpoint: string; requests: string; errors: string; client_errors: string; q: number[] }>(
    `SELECT host, method, endpoint, sum(requests) AS requests, sum(errors) AS errors, sum(client_errors) AS client_errors,
       quantilesTDigestMerge(0.5, 0.95, 0.99)(latency) AS q
     FROM ${store.database}.http_red_1m WHERE ${w} GROUP BY host, method, endpoint ORDER BY requests DESC LIMIT 200`,
    p,
  );
  // The bucket still in progress holds only the seconds so far: its rate is over those, not over
  // the whole bucket (which made every live chart dip at its right edge).
  const nowSec = Date.now() / 1000;
  const span = (start: number) => Math.max(1, Math.min(f.bucketSeconds, nowSec - start));
  return {
    since: nsToRfc3339(f.sinceNs),
    until: nsToRfc3339(f.untilNs),
    bucket_seconds: f.bucketSeconds,
    series: series.map((r) => {
      const n = Number(r.requests);
      return {
        time: new Date(Number(r.t) * 1000).toISOString(),
        requests: n, rate: n / span(Number(r.t)), errors: Number(r.errors), error_rate: n ? Number(r.errors) / n : 0,
        p50_ms: ns2ms(r.q[0]), p95_ms: ns2ms(r.q[1]), p99_ms: ns2ms(r.q[2]),
      };
    }),
    endpoints: endpoints.map((r) => {
      const n = Number(r.requests);
      return {
        host: r.host, method: r.method, endpoint: r.endpoint, requests: n, rate: n / windowSeconds,
        errors: Number(r.errors), client_errors: Number(r.client_errors), error_rate: n ? Number(r.errors) / n : 0,
        p50_ms: ns2ms(r.q[0]), p95_ms: ns2ms(r.q[1]), p99_ms: ns2ms(r.q[2]),
      };
    }),
  };
}

export interface MapEdge { source: string; target: string; requests: number; errors: number; error_rate: number; rate: number; p95_ms: number }
export interface MapNode { id: string; kind: 'process' | 'pod' | 'external'; node: string }

/** Callers → callees from client records (callee resolved by the server record on the same address), plus server records whose caller was not seen. */
export async function serviceMap(store: Store, sinceNs: bigint, untilNs: bigint): Promise<{ nodes: MapNode[]; edges: MapEdge[] }> {
  const db = store.database;
  const p: QueryParams = { since: sinceNs.toString(), until: untilNs.toString() };
  const win = `ts >= fromUnixTimestamp64Nano({since:Int64}, 'UTC') AND ts < fromUnixTimestamp64Nano({until:Int64}, 'UTC')`;
  const svc = `if(pod != '', if(namespace != '', concat(namespace, '/', pod), pod), process)`;
  const servers = await store.query<{ ip: string; port: number; svc: string; kind: string; node: string }>(
    `SELECT toString(dst_ip) AS ip, dst_port AS port, any(${svc}) AS svc, if(any(pod) != '', 'pod', 'process') AS kind, any(node) AS node
     FROM ${db}.http_exchanges WHERE ${win} AND role = 'server' GROUP BY ip, port LIMIT 10000`, p);
  const clients = await store.query<{ caller: string; kind: string; node: string; ip: string; port: number; host: string; requests: string; errors: string; p95: number }>(
    `SELECT ${svc} AS caller, if(any(pod) != '', 'pod', 'process') AS kind, any(node) AS node, toString(dst_ip) AS ip, dst_port AS port, any(host) AS host,
       count() AS requests, countIf(status >= 500 OR unmatched OR grpc_status IN ${GRPC_SERVER_ERRORS}) AS errors, quantile(0.95)(duration_ns) AS p95
     FROM ${db}.http_exchanges WHERE ${win} AND role = 'client' GROUP BY caller, ip, port LIMIT 10000`, p);
  const orphans = await store.query<{ caller: string; callee: string; kind: string; node: string; requests: string; errors: string; p95: number }>(
    `SELECT toString(src_ip) AS caller, ${svc} AS callee, if(any(pod) != '', 'pod', 'process') AS kind, any(node) AS node,
       count() AS requests, countIf(status >= 500 OR unmatched OR grpc_status IN ${GRPC_SERVER_ERRORS}) AS errors, quantile(0.95)(duration_ns) AS p95
     FROM ${db}.http_exchanges WHERE ${win} AND role = 'server'
       AND (src_ip, src_port, dst_ip, dst_port) NOT IN (SELECT src_ip, src_port, dst_ip, dst_port FROM ${db}.http_exchanges WHERE ${win} AND role = 'client')
     GROUP BY caller, callee LIMIT 10000`, p);
  const seconds = Number(untilNs - sinceNs) / 1e9;
  const nodes = new Map<string, MapNode>();
  const addNode = (id: string, kind: MapNode['kind'], node: string) => { if (!nodes.has(id)) nodes.set(id, { id, kind, node }); };
  const byAddr = new Map(servers.map((s) => [`${s.ip}|${s.port}`, s]));
  const edges = new Map<string, MapEdge & { p95sum: number }>();
  const addEdge = (source: string, target: string, requests: number, errors: number, p95: number) => {
    const key = `${source}\u0000${target}`;
    const e = edges.get(key) ?? { source, target, requests: 0, errors: 0, error_rate: 0, rate: 0, p95_ms: 0, p95sum: 0 };
    e.p95sum += p95 * requests;
    e.requests += requests;
    e.errors += errors;
    edges.set(key, e);
  };
  for (const c of clients) {
    const s = byAddr.get(`${c.ip}|${c.port}`);
    addNode(c.caller, c.kind as MapNode['kind'], c.node);
    const target = s ? s.svc : c.host || `${displayIp(c.ip)}:${c.port}`;
    if (s) addNode(s.svc, s.kind as MapNode['kind'], s.node); else addNode(target, 'external', '');
    addEdge(c.caller, target, Number(c.requests), Number(c.errors), Number(c.p95));
  }
  for (const o of orphans) {
    const caller = displayIp(o.caller);
    addNode(caller, 'external', '');
    addNode(o.callee, o.kind as MapNode['kind'], o.node);
    addEdge(caller, o.callee, Number(o.requests), Number(o.errors), Number(o.p95));
  }
  return {
    nodes: [...nodes.values()],
    edges: [...edges.values()].map(({ p95sum, ...e }) => ({
      ...e, rate: e.requests / seconds, error_rate: e.requests ? e.errors / e.requests : 0, p95_ms: ns2ms(p95sum / Math.max(1, e.requests)),
    })),
  };
}

interface DiagRow { agent_id: string; node: string; t: string; events: string; matched: string; unmatched: string; drops: string; send_failures: string; kernel_drops: string; queue_length: string; parse_errors: string; capture_status: string; version: string; started: string }
const COUNTERS = ['events', 'matched', 'unmatched', 'drops', 'send_failures', 'kernel_drops', 'parse_errors'] as const;

export async function health(store: Store, sinceNs: bigint, bucketSeconds: number) {
  const rows = await store.query<DiagRow>(
    `SELECT agent_id, any(node) AS node, toString(toUnixTimestamp64Milli(max(ts))) AS t,
       max(events) AS events, max(matched) AS matched, max(unmatched) AS unmatched, max(drops) AS drops,
       max(send_failures) AS send_failures, max(kernel_drops) AS kernel_drops, argMax(queue_length, ts) AS queue_length,
       max(parse_errors) AS parse_errors, argMax(capture_status, ts) AS capture_status, any(version) AS version,
       toString(toUnixTimestamp64Milli(any(started_at))) AS started
     FROM ${store.database}.agent_diagnostics
     WHERE ts >= fromUnixTimestamp64Nano({since:Int64}, 'UTC')
     GROUP BY agent_id, toStartOfInterval(ts, toIntervalSecond({bucket:UInt32}))
     ORDER BY agent_id, t`,
    { since: sinceNs.toString(), bucket: bucketSeconds },
  );
  const agents = new Map<string, { agent_id: string; node: string; version: string; started_at: string; last_seen: string; capture_status: string; queue_length: number; totals: Record<string, number>; series: Record<string, number | string>[] }>();
  const sinceMs = Number(sinceNs / 1_000_000n);
  for (const r of rows) {
    let a = agents.get(r.agent_id);
    if (!a) {
      a = { agent_id: r.agent_id, node: r.node, version: r.version, started_at: new Date(Number(r.started)).toISOString(), last_seen: '', capture_status: '', queue_length: 0, totals: {}, series: [] };
      agents.set(r.agent_id, a);
    }
    const point: Record<string, number | string> = { time: new Date(Number(r.t)).toISOString() };
    for (const c of COUNTERS) {
      const total = Number(r[c]);
      const prev = a.totals[c];
      // Counters count from the agent's start: an agent started inside the window lost nothing
      // before its first report; for one started earlier, what came before the window is unknown.
      point[c] = prev !== undefined ? Math.max(0, total - prev) : Number(r.started) >= sinceMs ? total : 0;
      a.totals[c] = total;
    }
    a.series.push(point);
    a.last_seen = point.time as string;
    a.capture_status = r.capture_status;
    a.queue_length = Number(r.queue_length);
  }
  return { agents: [...agents.values()] };
}

export async function loadRecentBatchIds(store: Store, sinceMs: number): Promise<string[]> {
  const rows = await store.query<{ b: string }>(
    `SELECT DISTINCT batch_id AS b FROM ${store.database}.http_exchanges WHERE ingested_at >= fromUnixTimestamp64Milli({s:Int64}, 'UTC')`,
    { s: String(sinceMs) },
  );
  return rows.map((r) => r.b);
}

export function assertUuid(id: string): void {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) throw new HeimdallError('BAD_PARAMETER', `id: ${JSON.stringify(id)} is not a UUID`);
}
