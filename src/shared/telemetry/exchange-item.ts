// The exchange as the HTTP API returns it: shared by the server and the UI, so it imports nothing.
export type RoleName = 'unknown' | 'server' | 'client';

/** A stored exchange as the API returns it (snake_case, like the proto and the columns). */
export interface ExchangeItem {
  id: string;
  timestamp: string; // RFC 3339, nanoseconds
  timestamp_ns: string;
  duration_ns: string;
  duration_ms: number;
  node: string;
  pid: number;
  process: string;
  container_id: string;
  namespace: string;
  pod: string;
  container: string;
  labels: Record<string, string>;
  role: RoleName;
  src_ip: string;
  src_port: number;
  dst_ip: string;
  dst_port: number;
  method: string;
  host: string;
  path: string;
  endpoint: string;
  query: string;
  http_version: string;
  status: number;
  request_bytes: number;
  response_bytes: number;
  user_agent: string;
  traceparent: string;
  request_sample: string;
  response_sample: string;
  request_truncated: boolean;
  response_truncated: boolean;
  unmatched: boolean;
  /** Captured in clear from the TLS library: the exchange was HTTPS. */
  tls: boolean;
  /** gRPC calls: the grpc-status trailer ("0" is OK); '' for other exchanges. */
  grpc_status: string;
}
