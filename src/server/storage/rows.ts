// Row layouts for ClickHouse inserts: exchanges (written by ingest/transcode.ts) and diagnostics.
import type { DiagnosticsReport } from '../../shared/proto/gen/heimdall/v1/ingest.ts';

/** Column order of the rows ingest/transcode.ts writes (JSONCompactEachRow). */
export const EXCHANGE_COLUMNS = [
  'id', 'ts', 'duration_ns', 'node', 'agent_id', 'batch_id', 'pid', 'process', 'container_id', 'namespace', 'pod', 'container',
  'labels', 'role', 'src_ip', 'src_port', 'dst_ip', 'dst_port', 'method', 'host', 'path', 'endpoint', 'query', 'http_version',
  'status', 'request_bytes', 'response_bytes', 'user_agent', 'traceparent', 'request_sample', 'response_sample',
  'request_truncated', 'response_truncated', 'unmatched', 'tls',
] as const;

export function encodeDiagnosticsRow(d: DiagnosticsReport): Buffer {
  const ms = (ns: bigint) => (ns / 1_000_000n).toString();
  return Buffer.from(
    JSON.stringify({
      ts: ms(d.timestampUnixNano),
      node: d.node,
      agent_id: d.agentId,
      started_at: ms(d.startedUnixNano),
      version: d.version,
      events: d.events.toString(),
      matched: d.matched.toString(),
      unmatched: d.unmatched.toString(),
      drops: d.drops.toString(),
      send_failures: d.sendFailures.toString(),
      kernel_drops: d.kernelDrops.toString(),
      queue_length: d.queueLength.toString(),
      parse_errors: d.parseErrors.toString(),
      capture_status: d.captureStatus,
    }) + '\n',
  );
}
