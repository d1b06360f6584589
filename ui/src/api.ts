// Typed calls to the server's HTTP API (same origin).
import type { ExchangeItem } from '../../src/shared/telemetry/exchange-item.ts';

/** One exchange; the detail endpoint adds both samples' exact bytes. */
export type Exchange = ExchangeItem & { request_sample_base64?: string; response_sample_base64?: string };

export interface Page { items: Exchange[]; next: string | null }
export interface SeriesPoint { time: string; requests: number; rate: number; errors: number; error_rate: number; p50_ms: number; p95_ms: number; p99_ms: number }
export interface EndpointRow { host: string; method: string; endpoint: string; requests: number; rate: number; errors: number; client_errors: number; error_rate: number; p50_ms: number; p95_ms: number; p99_ms: number }
export interface Stats { since: string; until: string; bucket_seconds: number; series: SeriesPoint[]; endpoints: EndpointRow[] }
export interface MapNode { id: string; kind: 'process' | 'pod' | 'external'; node: string }
export interface MapEdge { source: string; target: string; requests: number; errors: number; error_rate: number; rate: number; p95_ms: number }
export interface AgentHealth {
  agent_id: string; node: string; version: string; started_at: string; last_seen: string; capture_status: string; queue_length: number;
  totals: Record<string, number>; series: Record<string, number | string>[];
}

export class ApiError extends Error {
  status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

async function get<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, { signal, headers: { accept: 'application/json', 'x-heimdall-ui': '1' } });
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try {
      const body = (await res.json()) as { error?: { message?: string } };
      if (body.error?.message) msg = body.error.message;
    } catch {
      // not JSON
    }
    throw new ApiError(res.status, msg);
  }
  return (await res.json()) as T;
}

export const api = {
  logs: (params: URLSearchParams, signal?: AbortSignal) => get<Page>(`/api/logs?${params}`, signal),
  log: (id: string, signal?: AbortSignal) => get<Exchange>(`/api/logs/${encodeURIComponent(id)}`, signal),
  stats: (window: string, role: string, signal?: AbortSignal) => get<Stats>(`/api/stats?${new URLSearchParams(role ? { window, role } : { window })}`, signal),
  map: (window: string, signal?: AbortSignal) => get<{ nodes: MapNode[]; edges: MapEdge[] }>(`/api/map?window=${window}`, signal),
  agents: (window: string, signal?: AbortSignal) => get<{ agents: AgentHealth[] }>(`/api/agents?window=${window}`, signal),
};
