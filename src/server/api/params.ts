// Query-string validation for the HTTP API. Each failure names the parameter.
import { HeimdallError } from '../../shared/errors.ts';
import { parseDurationMs } from '../../shared/config/env.ts';
import { ROLE_NAMES, type RoleName } from '../../shared/telemetry/exchange.ts';
import { decodeCursor, type Cursor, type LogFilters } from '../storage/queries.ts';

export type Query = Record<string, string | string[] | undefined>;

export class ParamError extends HeimdallError {
  readonly parameter: string;
  constructor(parameter: string, message: string) {
    super('BAD_PARAMETER', `${parameter}: ${message}`);
    this.parameter = parameter;
  }
}

function one(q: Query, name: string): string | undefined {
  const v = q[name];
  if (Array.isArray(v)) throw new ParamError(name, 'given more than once');
  return v === undefined || v === '' ? undefined : v;
}

function text(q: Query, name: string, max = 1024): string | undefined {
  const v = one(q, name);
  if (v !== undefined && v.length > max) throw new ParamError(name, `longer than ${max} characters`);
  return v;
}

export function timeNs(q: Query, name: string): bigint | undefined {
  const v = one(q, name);
  if (v === undefined) return undefined;
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i.exec(v);
  const ms = m ? Date.parse(`${m[1]}${m[3]}`) : NaN;
  if (!m || Number.isNaN(ms)) throw new ParamError(name, `${JSON.stringify(v)} is not an RFC 3339 time like 2026-01-02T15:04:05Z`);
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

export function durationMs(q: Query, name: string, def: string, maxMs: number): number {
  const v = one(q, name) ?? def;
  const ms = parseDurationMs(v);
  if (ms === null || ms <= 0 || ms > maxMs) throw new ParamError(name, `${JSON.stringify(v)} is not a duration like 15m or 1h (max ${maxMs / 3_600_000}h)`);
  return ms;
}

export function role(q: Query): RoleName | undefined {
  const v = one(q, 'role');
  if (v === undefined) return undefined;
  if (!(ROLE_NAMES as readonly string[]).includes(v)) throw new ParamError('role', `${JSON.stringify(v)} is not one of ${ROLE_NAMES.join(', ')}`);
  return v as RoleName;
}

export function parseLogQuery(q: Query): { filters: LogFilters; limit: number; cursor: Cursor | null } {
  const f: LogFilters = {};
  const method = one(q, 'method');
  if (method !== undefined) {
    if (!/^[A-Za-z]{1,32}$/.test(method)) throw new ParamError('method', `${JSON.stringify(method)} is not an HTTP method`);
    f.method = method.toUpperCase();
  }
  const status = one(q, 'status');
  if (status !== undefined) {
    const s = status.toLowerCase();
    if (/^[1-5]xx$/.test(s)) {
      f.statusMin = Number(s[0]) * 100;
      f.statusMax = f.statusMin + 100;
    } else if (/^\d{3}$/.test(s)) f.statusExact = Number(s);
    else throw new ParamError('status', `${JSON.stringify(status)} is not a status code (404) or class (1xx-5xx)`);
  }
  f.host = text(q, 'host');
  const path = text(q, 'path', 8192);
  if (path !== undefined) f.pathPrefix = path;
  f.endpoint = text(q, 'endpoint', 512);
  f.node = text(q, 'node');
  f.namespace = text(q, 'namespace');
  f.pod = text(q, 'pod');
  f.process = text(q, 'process');
  f.role = role(q);
  const minDur = one(q, 'min_duration_ms');
  if (minDur !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(minDur)) throw new ParamError('min_duration_ms', `${JSON.stringify(minDur)} is not a non-negative number`);
    f.minDurationNs = BigInt(Math.round(Number(minDur) * 1e6));
  }
  f.untilNs = timeNs(q, 'until');
  f.sinceNs = timeNs(q, 'since');
  if (f.sinceNs === undefined && q.window !== undefined) f.sinceNs = (f.untilNs ?? BigInt(Date.now()) * 1_000_000n) - BigInt(durationMs(q, 'window', '1h', 31 * 86_400_000)) * 1_000_000n;
  if (f.sinceNs !== undefined && f.untilNs !== undefined && f.sinceNs >= f.untilNs) throw new ParamError('until', 'must be after since');
  const tls = one(q, 'tls');
  if (tls !== undefined) {
    if (tls !== 'true' && tls !== 'false') throw new ParamError('tls', 'must be true or false');
    f.tls = tls === 'true';
  }
  const grpc = one(q, 'grpc_status');
  if (grpc !== undefined) {
    // A code (0–16), "error" (any code but OK) or "any" (every gRPC call).
    if (!/^(\d{1,2}|error|any)$/.test(grpc)) throw new ParamError('grpc_status', 'must be a gRPC status code (0–16), "error" or "any"');
    f.grpcStatus = grpc;
  }
  const unmatched = one(q, 'unmatched');
  if (unmatched !== undefined) {
    if (unmatched !== 'true' && unmatched !== 'false') throw new ParamError('unmatched', 'must be true or false');
    f.unmatched = unmatched === 'true';
  }
  const limitRaw = one(q, 'limit');
  let limit = 100;
  if (limitRaw !== undefined) {
    if (!/^\d+$/.test(limitRaw) || Number(limitRaw) < 1 || Number(limitRaw) > 5000) throw new ParamError('limit', `${JSON.stringify(limitRaw)} is not a whole number from 1 to 5000`);
    limit = Number(limitRaw);
  }
  const cursorRaw = one(q, 'cursor');
  let cursor: Cursor | null = null;
  if (cursorRaw !== undefined) {
    cursor = decodeCursor(cursorRaw);
    if (!cursor) throw new ParamError('cursor', 'is not a cursor returned by this API (use the "next" value as is)');
  }
  for (const k of Object.keys(f) as (keyof LogFilters)[]) if (f[k] === undefined) delete f[k];
  return { filters: f, limit, cursor };
}

/** since/until or a window ending now. */
export function timeRange(q: Query, defWindow: string, maxMs: number): { sinceNs: bigint; untilNs: bigint } {
  const untilNs = timeNs(q, 'until') ?? BigInt(Date.now()) * 1_000_000n;
  const sinceNs = timeNs(q, 'since') ?? untilNs - BigInt(durationMs(q, 'window', defWindow, maxMs)) * 1_000_000n;
  if (sinceNs >= untilNs) throw new ParamError('until', 'must be after since');
  return { sinceNs, untilNs };
}

export function optionalText(q: Query, name: string): string | undefined {
  return text(q, name);
}

const KNOWN = new Set(['method', 'status', 'host', 'path', 'endpoint', 'node', 'namespace', 'pod', 'process', 'role', 'min_duration_ms', 'since', 'until', 'window', 'unmatched', 'tls', 'grpc_status', 'limit', 'cursor']);
export function rejectUnknown(q: Query, allowed: readonly string[] = [...KNOWN]): void {
  for (const k of Object.keys(q)) if (!allowed.includes(k)) throw new ParamError(k, `unknown parameter; known: ${allowed.join(', ')}`);
}
