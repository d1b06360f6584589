// Export request bytes → validated JSONCompactEachRow bytes for ClickHouse, in one pass and
// without building a JS object per exchange: the ingest hot path. Strings and samples are
// copied byte for byte (JSON-escaped), so samples keep their exact bytes.
import { isIP } from 'node:net';
import { MAX_SAMPLE_BYTES, pathTemplate } from '../../shared/telemetry/exchange.ts';
import { Out, Reader } from './wire-bytes.ts';

export interface Transcoded {
  batchId: string;
  agentId: string;
  count: number;
  /** JSONCompactEachRow lines in EXCHANGE_COLUMNS order. */
  rows: Buffer;
}

export type TranscodeResult = { ok: true; value: Transcoded } | { ok: false; error: string; batchId: string };

// HttpExchange field numbers (proto/heimdall/v1/ingest.proto).
const F = { id: 1, ts: 2, dur: 3, node: 4, pid: 5, process: 6, containerId: 7, namespace: 8, pod: 9, container: 10, labels: 11, role: 12, srcIp: 13, srcPort: 14, dstIp: 15, dstPort: 16, method: 17, host: 18, path: 19, query: 20, httpVersion: 21, status: 22, reqBytes: 23, resBytes: 24, userAgent: 25, traceparent: 26, reqSample: 27, resSample: 28, reqTrunc: 29, resTrunc: 30, unmatched: 31, tls: 32 } as const;
const NFIELDS = 33;
// Size limits per string field: [field, column name, max bytes].
const LIMIT_FIELDS = Int32Array.from([F.node, F.process, F.containerId, F.namespace, F.pod, F.container, F.host, F.path, F.query, F.httpVersion, F.userAgent, F.traceparent]);
const LIMIT_NAMES = ['node', 'process', 'container_id', 'namespace', 'pod', 'container', 'host', 'path', 'query', 'http_version', 'user_agent', 'traceparent'];
const LIMIT_MAX = Int32Array.from([256, 256, 256, 256, 256, 256, 1024, 8192, 8192, 16, 1024, 256]);
const lit = (s: string) => Buffer.from(s, 'latin1');
const ROLE = [lit('"unknown"'), lit('"server"'), lit('"client"')];
const EMPTY = lit('""');
const IP_NONE = lit('"::"');
const TRUE = lit('true');
const FALSE = lit('false');
const MIN_TS = 946_684_800_000_000_000n; // 2000-01-01
const DAY_NS = 86_400_000_000_000n;
// RFC 9110 tchar, for the method.
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;
const ipOk = new Map<string, boolean>();

// UUID text: 1 for hex digits, 2 for "-".
const UUID_CHAR = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') UUID_CHAR[c.charCodeAt(0)] = 1;
UUID_CHAR[0x2d] = 2;

function isUuid(b: Buffer, s: number, e: number): boolean {
  if (e - s !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const want = i === 8 || i === 13 || i === 18 || i === 23 ? 2 : 1;
    if (UUID_CHAR[b[s + i]] !== want) return false;
  }
  return true;
}

const templates = new Map<string, Buffer>();
/** The path's endpoint template as a JSON string, remembered: real traffic repeats its paths. */
function endpointJson(path: string): Buffer {
  let t = templates.get(path);
  if (t === undefined) {
    t = Buffer.from(JSON.stringify(pathTemplate(path)), 'utf8');
    if (templates.size >= 20_000) templates.clear();
    templates.set(path, t);
  }
  return t;
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
    ok = isIP(text) !== 0;
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
const show = (s: string) => JSON.stringify(s.length > 40 ? s.slice(0, 40) : s);
const TS_MIN = Number(MIN_TS);
const TS_SLACK = Number(DAY_NS);
const COMMA = 0x2c;
const QUOTE = 0x22;

/**
 * One exchange: fields are located first (protobuf fields may come in any order), checked,
 * then written in column order. Returns an error text naming the field, or null.
 */
function exchange(r: Reader, end: number, out: Out, agentJson: Buffer, batchJson: Buffer, nowNs: number, starts: Int32Array, ends: Int32Array, nums: Float64Array, labels: number[]): string | null {
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
  const text = (f: number) => (starts[f] < 0 ? '' : b.toString('utf8', starts[f], ends[f]));
  const len = (f: number) => (starts[f] < 0 ? 0 : ends[f] - starts[f]);
  if (starts[F.id] < 0 || !isUuid(b, starts[F.id], ends[F.id])) return `id: ${show(text(F.id))} is not a UUID`;
  const tsApprox = tsHi * 4294967296 + tsLo; // within a microsecond: enough for a range check
  if (tsApprox < TS_MIN || tsApprox > nowNs + TS_SLACK) return `timestamp_unix_nano: ${(BigInt(tsHi) << 32n) | BigInt(tsLo)} is outside 2000-01-01 .. now+1d`;
  if (nums[F.dur] > 7 * 86_400e9) return `duration_ns: ${nums[F.dur]} is longer than 7 days`;
  if (nums[F.role] > 2) return `role: ${nums[F.role]} is not 0 (unspecified), 1 (server) or 2 (client)`;
  if (nums[F.srcPort] > 65535) return `src_port: ${nums[F.srcPort]} is out of range 0-65535`;
  if (nums[F.dstPort] > 65535) return `dst_port: ${nums[F.dstPort]} is out of range 0-65535`;
  if (nums[F.pid] > 4294967295) return `pid: ${nums[F.pid]} is out of range`;
  if (starts[F.srcIp] >= 0 && len(F.srcIp) > 0 && !validIp(b, starts[F.srcIp], ends[F.srcIp])) return `src_ip: ${show(text(F.srcIp))} is not an IP address`;
  if (starts[F.dstIp] >= 0 && len(F.dstIp) > 0 && !validIp(b, starts[F.dstIp], ends[F.dstIp])) return `dst_ip: ${show(text(F.dstIp))} is not an IP address`;
  const status = nums[F.status];
  const unmatched = nums[F.unmatched] !== 0;
  if (status > 999) return `status: ${status} is out of range 0-999`;
  if (!unmatched && status < 100) return `status: ${status} is not a valid HTTP status (unmatched is false)`;
  if (len(F.method) > 0 && !isToken(b, starts[F.method], ends[F.method])) return `method: ${show(text(F.method))} is not an HTTP method token`;
  for (let i = 0; i < LIMIT_FIELDS.length; i++) {
    if (len(LIMIT_FIELDS[i]) > LIMIT_MAX[i]) return `${LIMIT_NAMES[i]}: ${len(LIMIT_FIELDS[i])} bytes is longer than ${LIMIT_MAX[i]}`;
  }
  if (len(F.reqSample) > MAX_SAMPLE_BYTES) return `request_sample: ${len(F.reqSample)} bytes is longer than ${MAX_SAMPLE_BYTES}`;
  if (len(F.resSample) > MAX_SAMPLE_BYTES) return `response_sample: ${len(F.resSample)} bytes is longer than ${MAX_SAMPLE_BYTES}`;
  if (labels.length / 2 > 64) return `labels: ${labels.length / 2} entries is more than 64`;

  const str = (f: number) => {
    if (starts[f] < 0) out.bytes(EMPTY);
    else out.jsonBytes(b, starts[f], ends[f]);
  };
  const ip = (f: number) => {
    if (starts[f] < 0 || ends[f] === starts[f]) out.bytes(IP_NONE);
    else out.jsonBytes(b, starts[f], ends[f]);
  };
  const quotedUint = (v: number) => {
    out.byte(QUOTE);
    out.uint(v);
    out.pair(QUOTE, COMMA);
  };
  out.byte(0x5b);
  str(F.id); out.pair(COMMA, QUOTE);
  out.uint64(tsHi, tsLo); out.pair(QUOTE, COMMA);
  quotedUint(nums[F.dur]);
  str(F.node); out.byte(COMMA);
  out.bytes(agentJson); out.byte(COMMA);
  out.bytes(batchJson); out.byte(COMMA);
  out.uint(nums[F.pid]); out.byte(COMMA);
  str(F.process); out.byte(COMMA);
  str(F.containerId); out.byte(COMMA);
  str(F.namespace); out.byte(COMMA);
  str(F.pod); out.byte(COMMA);
  str(F.container); out.pair(COMMA, 0x7b);
  for (let i = 0; i < labels.length; i += 2) {
    const m = labelReader.reset(labels[i], labels[i + 1]);
    let ks = -1, ke = -1, vs = -1, ve = -1;
    while (m.pos < m.end) {
      const tag = m.varint();
      const n = (tag & 7) === 2 ? m.varint() : -1;
      if (n < 0 || m.pos + n > m.end) return 'labels: malformed entry';
      if (tag >> 3 === 1) { ks = m.pos; ke = m.pos + n; } else if (tag >> 3 === 2) { vs = m.pos; ve = m.pos + n; }
      m.pos += n;
    }
    if (ke - ks > 256 || ve - vs > 1024) return 'labels: an entry is too long';
    if (i > 0) out.byte(COMMA);
    if (ks < 0) out.bytes(EMPTY); else out.jsonBytes(b, ks, ke);
    out.byte(0x3a);
    if (vs < 0) out.bytes(EMPTY); else out.jsonBytes(b, vs, ve);
  }
  out.pair(0x7d, COMMA);
  out.bytes(ROLE[nums[F.role]]); out.byte(COMMA);
  ip(F.srcIp); out.byte(COMMA);
  out.uint(nums[F.srcPort]); out.byte(COMMA);
  ip(F.dstIp); out.byte(COMMA);
  out.uint(nums[F.dstPort]); out.byte(COMMA);
  str(F.method); out.byte(COMMA);
  str(F.host); out.byte(COMMA);
  str(F.path); out.byte(COMMA);
  out.bytes(endpointJson(text(F.path))); out.byte(COMMA);
  str(F.query); out.byte(COMMA);
  str(F.httpVersion); out.byte(COMMA);
  out.uint(status); out.byte(COMMA);
  quotedUint(nums[F.reqBytes]);
  quotedUint(nums[F.resBytes]);
  str(F.userAgent); out.byte(COMMA);
  str(F.traceparent); out.byte(COMMA);
  str(F.reqSample); out.byte(COMMA);
  str(F.resSample); out.byte(COMMA);
  out.bytes(nums[F.reqTrunc] !== 0 ? TRUE : FALSE); out.byte(COMMA);
  out.bytes(nums[F.resTrunc] !== 0 ? TRUE : FALSE); out.byte(COMMA);
  out.bytes(unmatched ? TRUE : FALSE); out.byte(COMMA);
  out.bytes(nums[F.tls] !== 0 ? TRUE : FALSE);
  out.pair(0x5d, 0x0a);
  return null;
}

/** Decodes an ExportRequest and encodes its rows; the first bad record stops it, naming index and field. */
export function transcodeExport(msg: Buffer, nowNs: bigint): TranscodeResult {
  const r = new Reader(msg, 0, msg.length);
  let batchId = '';
  let agentId = '';
  const spans: number[] = [];
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag < 0) return { ok: false, error: 'malformed protobuf message', batchId };
    const field = Math.floor(tag / 8);
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
  const out = new Out(msg.length * 2 + spans.length * 160 + 64);
  const agentJson = Buffer.from(JSON.stringify(agentId), 'utf8');
  const batchJson = Buffer.from(JSON.stringify(batchId), 'utf8');
  const now = Number(nowNs);
  const starts = new Int32Array(NFIELDS);
  const ends = new Int32Array(NFIELDS);
  const nums = new Float64Array(NFIELDS);
  const labels: number[] = [];
  const rec = new Reader(msg, 0, 0);
  labelReader = new Reader(msg, 0, 0);
  for (let i = 0; i < spans.length; i += 2) {
    const before = out.len;
    const problem = exchange(rec.reset(spans[i], spans[i + 1]), spans[i + 1], out, agentJson, batchJson, now, starts, ends, nums, labels);
    if (problem) {
      out.len = before;
      return { ok: false, error: `exchanges[${i / 2}].${problem}`, batchId };
    }
  }
  return { ok: true, value: { batchId, agentId, count: spans.length / 2, rows: out.written() } };
}
