// Export request bytes → a validated ClickHouse Native block, in one pass and without
// building a JS object per exchange: the ingest hot path. Strings and samples are copied
// byte for byte, so samples keep their exact bytes.
import { isIP } from 'node:net';
import { MAX_SAMPLE_BYTES, pathTemplate } from '../../shared/telemetry/exchange.ts';
import { EXCHANGE_COLUMNS, EXCHANGE_NATIVE, type ExchangeColumn } from '../storage/rows.ts';
import { ColumnBuffer, NativeLayout, stringValue, type ColumnData } from './native-block.ts';
import { Reader } from './wire-bytes.ts';

export interface Transcoded {
  batchId: string;
  agentId: string;
  count: number;
  /** ExportRequest.max_in_flight: the most batches the sender keeps unacknowledged (0: not said). */
  maxInFlight: number;
  /** The rows in EXCHANGE_NATIVE's column layout; nativeBlock() joins batches into one insert. */
  columns: ColumnData;
}

export type TranscodeResult = { ok: true; value: Transcoded } | { ok: false; error: string; batchId: string };

// HttpExchange field numbers (proto/heimdall/v1/ingest.proto).
const F = { id: 1, ts: 2, dur: 3, node: 4, pid: 5, process: 6, containerId: 7, namespace: 8, pod: 9, container: 10, labels: 11, role: 12, srcIp: 13, srcPort: 14, dstIp: 15, dstPort: 16, method: 17, host: 18, path: 19, query: 20, httpVersion: 21, status: 22, reqBytes: 23, resBytes: 24, userAgent: 25, traceparent: 26, reqSample: 27, resSample: 28, reqTrunc: 29, resTrunc: 30, unmatched: 31, tls: 32, grpcStatus: 33 } as const;
const NFIELDS = 34;
// Size limits per string field: [field, column name, max bytes].
const LIMIT_FIELDS = Int32Array.from([F.node, F.process, F.containerId, F.namespace, F.pod, F.container, F.host, F.path, F.query, F.httpVersion, F.userAgent, F.traceparent, F.grpcStatus]);
const LIMIT_NAMES = ['node', 'process', 'container_id', 'namespace', 'pod', 'container', 'host', 'path', 'query', 'http_version', 'user_agent', 'traceparent', 'grpc_status'];
const LIMIT_MAX = Int32Array.from([256, 256, 256, 256, 256, 256, 1024, 8192, 8192, 16, 1024, 256, 2]);
const IP_NONE = stringValue('::');
const ROOT_ENDPOINT = stringValue('/');
const MIN_TS = 946_684_800_000_000_000n; // 2000-01-01
const DAY_NS = 86_400_000_000_000n;
// RFC 9110 tchar, for the method.
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;
const ipOk = new Map<string, boolean>();

// UUID text: 1 for hex digits, 2 for "-"; HEX_VALUE gives each hex digit's value.
const UUID_CHAR = new Uint8Array(256);
const HEX_VALUE = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') {
  UUID_CHAR[c.charCodeAt(0)] = 1;
  HEX_VALUE[c.charCodeAt(0)] = parseInt(c, 16);
}
UUID_CHAR[0x2d] = 2;
// Where the text's hex pairs start, for bytes 0..15 of the UUID.
const UUID_PAIRS = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

function isUuid(b: Buffer, s: number, e: number): boolean {
  if (e - s !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const want = i === 8 || i === 13 || i === 18 || i === 23 ? 2 : 1;
    if (UUID_CHAR[b[s + i]] !== want) return false;
  }
  return true;
}

/*
 * The path's endpoint template as a String value, remembered by the path's bytes: real
 * traffic repeats its paths, and comparing bytes costs less than decoding each path to a
 * string for a Map lookup (that was a fifth of the transcoder's time). Direct-mapped: a slot
 * holds the last path that hashed to it.
 */
const ENDPOINT_SLOTS = 4096;
const endpointPaths: (Buffer | undefined)[] = new Array<Buffer | undefined>(ENDPOINT_SLOTS);
const endpointValues: Buffer[] = new Array<Buffer>(ENDPOINT_SLOTS);
function endpointValue(b: Buffer, s: number, e: number): Buffer {
  let h = e - s;
  for (let i = s; i < e; i++) h = (Math.imul(h, 31) + b[i]) | 0;
  const slot = ((h ^ (h >>> 15)) >>> 0) % ENDPOINT_SLOTS;
  const known = endpointPaths[slot];
  if (known !== undefined && known.length === e - s) {
    let same = true;
    for (let i = 0; i < known.length && same; i++) same = known[i] === b[s + i];
    if (same) return endpointValues[slot];
  }
  const value = stringValue(pathTemplate(b.toString('utf8', s, e)));
  if (e - s <= 1024) {
    endpointPaths[slot] = Buffer.from(b.subarray(s, e));
    endpointValues[slot] = value;
  }
  return value;
}

/** Dotted-quad IPv4 checked on the bytes (the common case); anything else through isIP, cached. */
function validIp(b: Buffer, s: number, e: number): boolean {
  let parts = 0;
  let digits = 0;
  let v = 0;
  for (let i = s; i <= e; i++) {
    const c = i === e ? 0x2e : b[i];
    if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && v === 0) return slowIp(b, s, e); // leading zero: let isIP decide
      v = v * 10 + c - 0x30;
      if (++digits > 3 || v > 255) return slowIp(b, s, e);
    } else if (c === 0x2e && digits > 0) {
      parts++;
      digits = 0;
      v = 0;
    } else return slowIp(b, s, e);
  }
  return parts === 4 || slowIp(b, s, e);
}

function slowIp(b: Buffer, s: number, e: number): boolean {
  const text = b.toString('latin1', s, e);
  let ok = ipOk.get(text);
  if (ok === undefined) {
    ok = isIP(text) !== 0 && !text.includes('%'); // the engine takes no zone ids
    if (ipOk.size > 10_000) ipOk.clear();
    ipOk.set(text, ok);
  }
  return ok;
}

function isToken(b: Buffer, s: number, e: number): boolean {
  if (e - s < 1 || e - s > 32) return false;
  for (let i = s; i < e; i++) if (TCHAR[b[i]] === 0) return false;
  return true;
}

let labelReader = new Reader(Buffer.alloc(0), 0, 0);
// Module-level rather than closures in exchange(): a closure per record was garbage per record.
const fieldText = (b: Buffer, starts: Int32Array, ends: Int32Array, f: number) => (starts[f] < 0 ? '' : b.toString('utf8', starts[f], ends[f]));
const fieldLen = (starts: Int32Array, ends: Int32Array, f: number) => (starts[f] < 0 ? 0 : ends[f] - starts[f]);
const show = (s: string) => JSON.stringify(s.length > 40 ? s.slice(0, 40) : s);
const TS_MIN = Number(MIN_TS);
const TS_SLACK = Number(DAY_NS);

// Column positions in the block, and reusable column buffers (transcoding is synchronous).
const at = (name: ExchangeColumn) => EXCHANGE_COLUMNS.indexOf(name);
const C = {
  id: at('id'), ts: at('ts'), dur: at('duration_ns'), node: at('node'), agent: at('agent_id'), batch: at('batch_id'), pid: at('pid'),
  process: at('process'), containerId: at('container_id'), namespace: at('namespace'), pod: at('pod'), container: at('container'),
  role: at('role'), srcIp: at('src_ip'), srcPort: at('src_port'), dstIp: at('dst_ip'), dstPort: at('dst_port'), method: at('method'),
  host: at('host'), path: at('path'), endpoint: at('endpoint'), query: at('query'), httpVersion: at('http_version'), status: at('status'),
  reqBytes: at('request_bytes'), resBytes: at('response_bytes'), userAgent: at('user_agent'), traceparent: at('traceparent'),
  reqSample: at('request_sample'), resSample: at('response_sample'), reqTrunc: at('request_truncated'), resTrunc: at('response_truncated'),
  unmatched: at('unmatched'), tls: at('tls'), grpcStatus: at('grpc_status'),
};
// Protobuf string field → its String column, for the fields copied as they are.
const COPIED: [number, number][] = [
  [F.node, C.node], [F.process, C.process], [F.containerId, C.containerId], [F.namespace, C.namespace], [F.pod, C.pod],
  [F.container, C.container], [F.method, C.method], [F.host, C.host], [F.path, C.path], [F.query, C.query],
  [F.httpVersion, C.httpVersion], [F.userAgent, C.userAgent], [F.traceparent, C.traceparent], [F.reqSample, C.reqSample], [F.resSample, C.resSample],
  [F.grpcStatus, C.grpcStatus],
];
const COPY_FIELD = Int32Array.from(COPIED.map(([f]) => f));
const COPY_COL = Int32Array.from(COPIED.map(([, c]) => c));
const layout = new NativeLayout(EXCHANGE_NATIVE.map(([name, type]) => ({ name, type })));

/** One Native block (EXCHANGE_COLUMNS) with the rows of every batch given, in order. */
export function nativeBlock(batches: readonly ColumnData[]): Buffer {
  return layout.join(batches);
}
const SCRATCH_KEEP = 4 << 20;
const cols: ColumnBuffer[] = EXCHANGE_NATIVE.map(() => new ColumnBuffer(4096));
const labelOffsets = new ColumnBuffer(1024);
const labelKeys = new ColumnBuffer(1024);
const labelValues = new ColumnBuffer(1024);
const LABELS = at('labels');
let labelCount = 0;

/**
 * One exchange: fields are located first (protobuf fields may come in any order), checked,
 * then appended to the columns. Returns an error text naming the field, or null.
 */
function exchange(r: Reader, end: number, agent: Buffer, batch: Buffer, nowNs: number, starts: Int32Array, ends: Int32Array, nums: Float64Array, labels: number[]): string | null {
  starts.fill(-1);
  nums.fill(0);
  labels.length = 0;
  let tsLo = 0;
  let tsHi = 0;
  while (r.pos < end) {
    const tag = r.varint();
    if (tag < 0) return 'malformed protobuf';
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 2) {
      const n = r.varint();
      if (n < 0 || r.pos + n > end) return 'malformed protobuf';
      if (field === F.labels) labels.push(r.pos, r.pos + n);
      else if (field < NFIELDS) {
        starts[field] = r.pos;
        ends[field] = r.pos + n;
      }
      r.pos += n;
    } else if (wire === 0 && field < NFIELDS) {
      const v = r.varint();
      if (v < 0) return 'malformed protobuf';
      nums[field] = v;
    } else if (wire === 1 && field === F.ts) {
      if (r.pos + 8 > end) return 'malformed protobuf';
      tsLo = r.b.readUInt32LE(r.pos);
      tsHi = r.b.readUInt32LE(r.pos + 4);
      r.pos += 8;
    } else if (!r.skip(wire)) return 'malformed protobuf';
  }
  const b = r.b;
  if (starts[F.id] < 0 || !isUuid(b, starts[F.id], ends[F.id])) return `id: ${show(fieldText(b, starts, ends, F.id))} is not a UUID`;
  const tsApprox = tsHi * 4294967296 + tsLo; // within a microsecond: enough for a range check
  if (tsApprox < TS_MIN || tsApprox > nowNs + TS_SLACK) return `timestamp_unix_nano: ${(BigInt(tsHi) << 32n) | BigInt(tsLo)} is outside 2000-01-01 .. now+1d`;
  if (nums[F.dur] > 7 * 86_400e9) return `duration_ns: ${nums[F.dur]} is longer than 7 days`;
  if (nums[F.role] > 2) return `role: ${nums[F.role]} is not 0 (unspecified), 1 (server) or 2 (client)`;
  if (nums[F.srcPort] > 65535) return `src_port: ${nums[F.srcPort]} is out of range 0-65535`;
  if (nums[F.dstPort] > 65535) return `dst_port: ${nums[F.dstPort]} is out of range 0-65535`;
  if (nums[F.pid] > 4294967295) return `pid: ${nums[F.pid]} is out of range`;
  if (starts[F.srcIp] >= 0 && fieldLen(starts, ends, F.srcIp) > 0 && !validIp(b, starts[F.srcIp], ends[F.srcIp])) return `src_ip: ${show(fieldText(b, starts, ends, F.srcIp))} is not an IP address`;
  if (starts[F.dstIp] >= 0 && fieldLen(starts, ends, F.dstIp) > 0 && !validIp(b, starts[F.dstIp], ends[F.dstIp])) return `dst_ip: ${show(fieldText(b, starts, ends, F.dstIp))} is not an IP address`;
  const status = nums[F.status];
  const unmatched = nums[F.unmatched] !== 0;
  if (status > 999) return `status: ${status} is out of range 0-999`;
  if (!unmatched && status < 100) return `status: ${status} is not a valid HTTP status (unmatched is false)`;
  if (fieldLen(starts, ends, F.method) > 0 && !isToken(b, starts[F.method], ends[F.method])) return `method: ${show(fieldText(b, starts, ends, F.method))} is not an HTTP method token`;
  for (let i = 0; i < LIMIT_FIELDS.length; i++) {
    if (fieldLen(starts, ends, LIMIT_FIELDS[i]) > LIMIT_MAX[i]) return `${LIMIT_NAMES[i]}: ${fieldLen(starts, ends, LIMIT_FIELDS[i])} bytes is longer than ${LIMIT_MAX[i]}`;
  }
  if (fieldLen(starts, ends, F.reqSample) > MAX_SAMPLE_BYTES) return `request_sample: ${fieldLen(starts, ends, F.reqSample)} bytes is longer than ${MAX_SAMPLE_BYTES}`;
  if (fieldLen(starts, ends, F.resSample) > MAX_SAMPLE_BYTES) return `response_sample: ${fieldLen(starts, ends, F.resSample)} bytes is longer than ${MAX_SAMPLE_BYTES}`;
  if (labels.length / 2 > 64) return `labels: ${labels.length / 2} entries is more than 64`;
  // Labels are checked before any column is written, so a bad record leaves no partial row.
  const keysAt = labelKeys.len;
  const valuesAt = labelValues.len;
  for (let i = 0; i < labels.length; i += 2) {
    const m = labelReader.reset(labels[i], labels[i + 1]);
    let ks = 0, ke = 0, vs = 0, ve = 0;
    while (m.pos < m.end) {
      const tag = m.varint();
      const n = (tag & 7) === 2 ? m.varint() : -1;
      if (n < 0 || m.pos + n > m.end) {
        labelKeys.len = keysAt;
        labelValues.len = valuesAt;
        return 'labels: malformed entry';
      }
      if (tag >> 3 === 1) { ks = m.pos; ke = m.pos + n; } else if (tag >> 3 === 2) { vs = m.pos; ve = m.pos + n; }
      m.pos += n;
    }
    if (ke - ks > 256 || ve - vs > 1024) {
      labelKeys.len = keysAt;
      labelValues.len = valuesAt;
      return 'labels: an entry is too long';
    }
    labelKeys.str(b, ks, ke);
    labelValues.str(b, vs, ve);
  }
  labelCount += labels.length / 2;
  labelOffsets.u64(labelCount);

  uuid(cols[C.id], b, starts[F.id]);
  cols[C.ts].u64Parts(tsHi, tsLo);
  cols[C.dur].u64(nums[F.dur]);
  cols[C.agent].raw(agent);
  cols[C.batch].raw(batch);
  cols[C.pid].u32(nums[F.pid]);
  for (let i = 0; i < COPY_FIELD.length; i++) {
    const f = COPY_FIELD[i];
    if (starts[f] < 0) cols[COPY_COL[i]].byte(0);
    else cols[COPY_COL[i]].str(b, starts[f], ends[f]);
  }
  cols[C.role].byte(nums[F.role]);
  if (fieldLen(starts, ends, F.srcIp) === 0) cols[C.srcIp].raw(IP_NONE);
  else cols[C.srcIp].str(b, starts[F.srcIp], ends[F.srcIp]);
  cols[C.srcPort].u16(nums[F.srcPort]);
  if (fieldLen(starts, ends, F.dstIp) === 0) cols[C.dstIp].raw(IP_NONE);
  else cols[C.dstIp].str(b, starts[F.dstIp], ends[F.dstIp]);
  cols[C.dstPort].u16(nums[F.dstPort]);
  cols[C.endpoint].raw(starts[F.path] < 0 ? ROOT_ENDPOINT : endpointValue(b, starts[F.path], ends[F.path]));
  cols[C.status].u16(status);
  cols[C.reqBytes].u64(nums[F.reqBytes]);
  cols[C.resBytes].u64(nums[F.resBytes]);
  cols[C.reqTrunc].byte(nums[F.reqTrunc] !== 0 ? 1 : 0);
  cols[C.resTrunc].byte(nums[F.resTrunc] !== 0 ? 1 : 0);
  cols[C.unmatched].byte(unmatched ? 1 : 0);
  cols[C.tls].byte(nums[F.tls] !== 0 ? 1 : 0);
  return null;
}

/** UUID text at b[s..s+36) as Native's UUID: two little-endian 64-bit halves. */
function uuid(out: ColumnBuffer, b: Buffer, s: number): void {
  out.room(16);
  const o = out.buf;
  const p = out.len;
  for (let i = 0; i < 16; i++) {
    const h = s + UUID_PAIRS[i];
    // Byte i of the UUID goes to 7-i in the first half, 23-i in the second.
    o[p + (i < 8 ? 7 - i : 23 - i)] = (HEX_VALUE[b[h]] << 4) | HEX_VALUE[b[h + 1]];
  }
  out.len = p + 16;
}

function resetScratch(): void {
  for (let i = 0; i < cols.length; i++) {
    if (cols[i].buf.length > SCRATCH_KEEP) cols[i] = new ColumnBuffer(4096);
    cols[i].reset();
  }
  for (const c of [labelOffsets, labelKeys, labelValues]) {
    if (c.buf.length > SCRATCH_KEEP) c.buf = Buffer.allocUnsafe(4096);
    c.reset();
  }
  labelCount = 0;
}

/** Decodes an ExportRequest and encodes its rows; the first bad record stops it, naming index and field. */
export function transcodeExport(msg: Buffer, nowNs: bigint): TranscodeResult {
  const r = new Reader(msg, 0, msg.length);
  let batchId = '';
  let agentId = '';
  let maxInFlight = 0;
  const spans: number[] = [];
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag < 0) return { ok: false, error: 'malformed protobuf message', batchId };
    const field = Math.floor(tag / 8);
    if (tag === (5 << 3)) {
      const v = r.varint();
      if (v < 0) return { ok: false, error: 'malformed protobuf message', batchId };
      maxInFlight = v;
      continue;
    }
    if ((tag & 7) !== 2) {
      if (!r.skip(tag & 7)) return { ok: false, error: 'malformed protobuf message', batchId };
      continue;
    }
    const n = r.varint();
    if (n < 0 || r.pos + n > r.end) return { ok: false, error: 'malformed protobuf message', batchId };
    if (field === 1) batchId = msg.toString('utf8', r.pos, r.pos + n);
    else if (field === 2) agentId = msg.toString('utf8', r.pos, r.pos + n);
    else if (field === 4) spans.push(r.pos, r.pos + n);
    r.pos += n;
  }
  resetScratch();
  const agent = stringValue(agentId);
  const batch = stringValue(batchId);
  const now = Number(nowNs);
  const starts = new Int32Array(NFIELDS);
  const ends = new Int32Array(NFIELDS);
  const nums = new Float64Array(NFIELDS);
  const labels: number[] = [];
  const rec = new Reader(msg, 0, 0);
  labelReader = new Reader(msg, 0, 0);
  for (let i = 0; i < spans.length; i += 2) {
    const problem = exchange(rec.reset(spans[i], spans[i + 1]), spans[i + 1], agent, batch, now, starts, ends, nums, labels);
    if (problem) return { ok: false, error: `exchanges[${i / 2}].${problem}`, batchId };
  }
  const count = spans.length / 2;
  const data = cols.map((c, i) => (i === LABELS ? [labelOffsets, labelKeys, labelValues] : [c]));
  return { ok: true, value: { batchId, agentId, count, maxInFlight, columns: layout.capture(data, count) } };
}
