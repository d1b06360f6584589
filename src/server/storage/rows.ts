// Wire records → JSONEachRow bytes for ClickHouse. Samples are raw bytes: they are written
// into the JSON unescaped above 0x7f so the String column keeps the exact bytes seen.
import type { DiagnosticsReport, HttpExchange } from '../../shared/proto/gen/heimdall/v1/ingest.ts';
import { ROLE_NAMES, pathTemplate } from '../../shared/telemetry/exchange.ts';

/** Column order of encodeExchangeRows (JSONCompactEachRow). */
export const EXCHANGE_COLUMNS = [
  'id', 'ts', 'duration_ns', 'node', 'agent_id', 'batch_id', 'pid', 'process', 'container_id', 'namespace', 'pod', 'container',
  'labels', 'role', 'src_ip', 'src_port', 'dst_ip', 'dst_port', 'method', 'host', 'path', 'endpoint', 'query', 'http_version',
  'status', 'request_bytes', 'response_bytes', 'user_agent', 'traceparent', 'request_sample', 'response_sample',
  'request_truncated', 'response_truncated', 'unmatched',
] as const;

const NON_ASCII = /[^\x00-\x7f]/;
/** UTF-8 text as a "byte string" (one char per byte): the whole batch is then written as latin1. */
const bytesOf = (s: string) => (NON_ASCII.test(s) ? Buffer.from(s, 'utf8').toString('latin1') : s);

function labelsOf(labels: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k in labels) out[bytesOf(k)] = bytesOf(labels[k]);
  return out;
}

/**
 * JSONCompactEachRow lines as a byte string: every text is one char per byte, so
 * Buffer.from(result, 'latin1') is the exact payload, samples included byte for byte
 * (JSON.stringify leaves U+0080..U+00FF unescaped and ClickHouse does not re-validate UTF-8).
 */
export function encodeExchangeRows(exchanges: readonly HttpExchange[], agentId: string, batchId: string): string {
  let out = '';
  for (const x of exchanges) {
    out += JSON.stringify([
      x.id, x.timestampUnixNano.toString(), x.durationNs.toString(), bytesOf(x.node), agentId, batchId, x.pid,
      bytesOf(x.process), x.containerId, bytesOf(x.namespace), bytesOf(x.pod), bytesOf(x.container), labelsOf(x.labels),
      ROLE_NAMES[x.role as 0 | 1 | 2] ?? 'unknown', x.srcIp || '::', x.srcPort, x.dstIp || '::', x.dstPort, x.method,
      bytesOf(x.host), bytesOf(x.path), bytesOf(pathTemplate(x.path)), bytesOf(x.query), x.httpVersion, x.status,
      x.requestBytes.toString(), x.responseBytes.toString(), bytesOf(x.userAgent), x.traceparent,
      Buffer.from(x.requestSample.buffer, x.requestSample.byteOffset, x.requestSample.length).toString('latin1'),
      Buffer.from(x.responseSample.buffer, x.responseSample.byteOffset, x.responseSample.length).toString('latin1'),
      x.requestTruncated, x.responseTruncated, x.unmatched,
    ]);
    out += '\n';
  }
  return out;
}

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
