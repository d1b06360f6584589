// Row layouts for ClickHouse inserts: exchanges (written by ingest/transcode.ts) and diagnostics.
import type { DiagnosticsReport } from '../../shared/proto/gen/heimdall/v1/ingest.ts';

const S = 'String';
const U64 = 'UInt64';
/**
 * The columns ingest/transcode.ts writes, in order, with the type each has in the Native
 * block. Types differ from the table's where the insert converts cheaply and exactly:
 * LowCardinality(String) arrives as String, IPv6 as text (IPv4 becomes ::ffff:a.b.c.d).
 */
export const EXCHANGE_NATIVE = [
  ['id', 'UUID'], ['ts', "DateTime64(9, 'UTC')"], ['duration_ns', U64], ['node', S], ['agent_id', S], ['batch_id', S],
  ['pid', 'UInt32'], ['process', S], ['container_id', S], ['namespace', S], ['pod', S], ['container', S],
  ['labels', 'Map(String, String)'], ['role', "Enum8('unknown' = 0, 'server' = 1, 'client' = 2)"], ['src_ip', S], ['src_port', 'UInt16'],
  ['dst_ip', S], ['dst_port', 'UInt16'], ['method', S], ['host', S], ['path', S], ['endpoint', S], ['query', S], ['http_version', S],
  ['status', 'UInt16'], ['request_bytes', U64], ['response_bytes', U64], ['user_agent', S], ['traceparent', S], ['request_sample', S],
  ['response_sample', S], ['request_truncated', 'Bool'], ['response_truncated', 'Bool'], ['unmatched', 'Bool'], ['tls', 'Bool'],
  ['grpc_status', S],
] as const;

export type ExchangeColumn = (typeof EXCHANGE_NATIVE)[number][0];
export const EXCHANGE_COLUMNS: readonly ExchangeColumn[] = EXCHANGE_NATIVE.map(([name]) => name);

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
