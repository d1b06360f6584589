// Wire records → JSONEachRow bytes for ClickHouse. Samples are raw bytes: they are written
// into the JSON unescaped above 0x7f so the String column keeps the exact bytes seen.
import type { DiagnosticsReport, HttpExchange } from '../../shared/proto/gen/heimdall/v1/ingest.ts';
import { ROLE_NAMES, pathTemplate } from '../../shared/telemetry/exchange.ts';

const HEX = '0123456789abcdef';

/** JSON string literal whose content bytes equal `bytes` (ClickHouse does not validate UTF-8). */
export function jsonByteString(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(bytes.length * 6 + 2);
  let o = 0;
  out[o++] = 0x22;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x22 || b === 0x5c) {
      out[o++] = 0x5c;
      out[o++] = b;
    } else if (b < 0x20) {
      out[o++] = 0x5c; out[o++] = 0x75; out[o++] = 0x30; out[o++] = 0x30;
      out[o++] = HEX.charCodeAt(b >> 4);
      out[o++] = HEX.charCodeAt(b & 15);
    } else {
      out[o++] = b;
    }
  }
  out[o++] = 0x22;
  return out.subarray(0, o);
}

const REQ_SAMPLE = Buffer.from(',"request_sample":');
const RES_SAMPLE = Buffer.from(',"response_sample":');
const END = Buffer.from('}\n');

export function encodeExchangeRows(exchanges: readonly HttpExchange[], agentId: string, batchId: string): Buffer[] {
  const parts: Buffer[] = [];
  for (const x of exchanges) {
    const head = JSON.stringify({
      id: x.id,
      ts: x.timestampUnixNano.toString(),
      duration_ns: x.durationNs.toString(),
      node: x.node,
      agent_id: agentId,
      batch_id: batchId,
      pid: x.pid,
      process: x.process,
      container_id: x.containerId,
      namespace: x.namespace,
      pod: x.pod,
      container: x.container,
      labels: x.labels,
      role: ROLE_NAMES[x.role as 0 | 1 | 2] ?? 'unknown',
      src_ip: x.srcIp || '::',
      src_port: x.srcPort,
      dst_ip: x.dstIp || '::',
      dst_port: x.dstPort,
      method: x.method,
      host: x.host,
      path: x.path,
      endpoint: pathTemplate(x.path),
      query: x.query,
      http_version: x.httpVersion,
      status: x.status,
      request_bytes: x.requestBytes.toString(),
      response_bytes: x.responseBytes.toString(),
      user_agent: x.userAgent,
      traceparent: x.traceparent,
      request_truncated: x.requestTruncated,
      response_truncated: x.responseTruncated,
      unmatched: x.unmatched,
    });
    parts.push(Buffer.from(head.slice(0, -1)), REQ_SAMPLE, jsonByteString(x.requestSample), RES_SAMPLE, jsonByteString(x.responseSample), END);
  }
  return parts;
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
