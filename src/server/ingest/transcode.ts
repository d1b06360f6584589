// Export request bytes → validated JSONCompactEachRow bytes for ClickHouse, in one pass and
// without building a JS object per exchange: the ingest hot path. Strings and samples are
// copied byte for byte (JSON-escaped), so samples keep their exact bytes.
import { isIP } from 'node:net';
import { MAX_SAMPLE_BYTES, pathTemplate } from '../../shared/telemetry/exchange.ts';

export interface Transcoded {
  batchId: string;
  agentId: string;
  count: number;
  /** JSONCompactEachRow lines in EXCHANGE_COLUMNS order. */
  rows: Buffer;
}

export type TranscodeResult = { ok: true; value: Transcoded } | { ok: false; error: string; batchId: string };

// HttpExchange field numbers (proto/heimdall/v1/ingest.proto).
const F = { id: 1, ts: 2, dur: 3, node: 4, pid: 5, process: 6, containerId: 7, namespace: 8, pod: 9, container: 10, labels: 11, role: 12, srcIp: 13, srcPort: 14, dstIp: 15, dstPort: 16, method: 17, host: 18, path: 19, query: 20, httpVersion: 21, status: 22, reqBytes: 23, resBytes: 24, userAgent: 25, traceparent: 26, reqSample: 27, resSample: 28, reqTrunc: 29, resTrunc: 30, unmatched: 31 } as const;
const NFIELDS = 32;
const STRING_LIMITS: [number, string, number][] = [
  [F.node, 'node', 256], [F.process, 'process', 256], [F.containerId, 'container_id', 256], [F.namespace, 'namespace', 256], [F.pod, 'pod', 256], [F.container, 'container', 256],
  [F.host, 'host', 1024], [F.path, 'path', 8192], [F.query, 'query', 8192], [F.httpVersion, 'http_version', 16], [F.userAgent, 'user_agent', 1024], [F.traceparent, 'traceparent', 256],
];
const ROLE = ['"unknown"', '"server"', '"client"'];
const MIN_TS = 946_684_800_000_000_000n; // 2000-01-01
const DAY_NS = 86_400_000_000_000n;
const HEX = '0123456789abcdef';
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}$/;
const ipOk = new Map<string, boolean>();

class Reader {
  pos = 0;
  readonly b: Buffer;
  readonly end: number;
  constructor(b: Buffer, start: number, end: number) {
    this.b = b;
    this.pos = start;
    this.end = end;
  }
  /** Varint as a double (exact below 2^53, which every field here stays under), or -1 if malformed. */
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) return -1;
      const c = this.b[this.pos++];
      result += (c & 0x7f) * mul;
      if (c < 0x80) return result;
      mul *= 128;
    }
    return -1;
  }
  skip(wire: number): boolean {
    if (wire === 0) return this.varint() >= 0;
    if (wire === 1) this.pos += 8;
    else if (wire === 5) this.pos += 4;
    else if (wire === 2) {
      const n = this.varint();
      if (n < 0) return false;
      this.pos += n;
    } else return false;
    return this.pos <= this.end;
  }
}

/** Growable output buffer of bytes. */
class Out {
  buf: Buffer;
  len = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  ascii(s: string): void {
    this.room(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.len++] = s.charCodeAt(i);
  }
  byte(c: number): void {
    this.room(1);
    this.buf[this.len++] = c;
  }
  /** b[start..end) as a JSON string; bytes >= 0x80 pass through (UTF-8 text, or raw sample bytes). */
  jsonBytes(b: Buffer, start: number, end: number): void {
    this.room((end - start) * 6 + 2);
    const o = this.buf;
    let n = this.len;
    o[n++] = 0x22;
    for (let i = start; i < end; i++) {
      const c = b[i];
      if (c === 0x22 || c === 0x5c) {
        o[n++] = 0x5c;
        o[n++] = c;
      } else if (c < 0x20) {
        o[n++] = 0x5c; o[n++] = 0x75; o[n++] = 0x30; o[n++] = 0x30;
        o[n++] = HEX.charCodeAt(c >> 4);
        o[n++] = HEX.charCodeAt(c & 15);
      } else o[n++] = c;
    }
    o[n++] = 0x22;
    this.len = n;
  }
  jsonString(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.jsonBytes(b, 0, b.length);
  }
}

function isUuid(b: Buffer, s: number, e: number): boolean {
  if (e - s !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = b[s + i];
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 0x2d) return false;
    } else if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46))) return false;
  }
  return true;
}

function validIp(s: string): boolean {
  let ok = ipOk.get(s);
  if (ok === undefined) {
    ok = isIP(s) !== 0;
    if (ipOk.size > 10_000) ipOk.clear();
    ipOk.set(s, ok);
  }
  return ok;
}

const show = (s: string) => JSON.stringify(s.length > 40 ? s.slice(0, 40) : s);

/**
 * One exchange: fields are located first (protobuf fields may come in any order), checked,
 * then written in column order. Returns an error text naming the field, or null.
 */
function exchange(r: Reader, end: number, out: Out, agentJson: string, batchJson: string, nowNs: bigint, starts: Int32Array, ends: Int32Array, nums: Float64Array, labels: number[]): string | null {
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
  const ts = (BigInt(tsHi) << 32n) | BigInt(tsLo);
  if (ts < MIN_TS || ts > nowNs + DAY_NS) return `timestamp_unix_nano: ${ts} is outside 2000-01-01 .. now+1d`;
  if (nums[F.dur] > 7 * 86_400e9) return `duration_ns: ${nums[F.dur]} is longer than 7 days`;
  if (nums[F.role] > 2) return `role: ${nums[F.role]} is not 0 (unspecified), 1 (server) or 2 (client)`;
  if (nums[F.srcPort] > 65535) return `src_port: ${nums[F.srcPort]} is out of range 0-65535`;
  if (nums[F.dstPort] > 65535) return `dst_port: ${nums[F.dstPort]} is out of range 0-65535`;
  if (nums[F.pid] > 4294967295) return `pid: ${nums[F.pid]} is out of range`;
  const srcIp = text(F.srcIp);
  const dstIp = text(F.dstIp);
  if (srcIp !== '' && !validIp(srcIp)) return `src_ip: ${show(srcIp)} is not an IP address`;
  if (dstIp !== '' && !validIp(dstIp)) return `dst_ip: ${show(dstIp)} is not an IP address`;
  const status = nums[F.status];
  const unmatched = nums[F.unmatched] !== 0;
  if (status > 999) return `status: ${status} is out of range 0-999`;
  if (!unmatched && status < 100) return `status: ${status} is not a valid HTTP status (unmatched is false)`;
  const method = text(F.method);
  if (method !== '' && !TOKEN.test(method)) return `method: ${show(method)} is not an HTTP method token`;
  for (const [f, name, max] of STRING_LIMITS) if (len(f) > max) return `${name}: ${len(f)} bytes is longer than ${max}`;
  if (len(F.reqSample) > MAX_SAMPLE_BYTES) return `request_sample: ${len(F.reqSample)} bytes is longer than ${MAX_SAMPLE_BYTES}`;
  if (len(F.resSample) > MAX_SAMPLE_BYTES) return `response_sample: ${len(F.resSample)} bytes is longer than ${MAX_SAMPLE_BYTES}`;
  if (labels.length / 2 > 64) return `labels: ${labels.length / 2} entries is more than 64`;

  const str = (f: number) => (starts[f] < 0 ? out.ascii('""') : out.jsonBytes(b, starts[f], ends[f]));
  out.byte(0x5b);
  str(F.id); out.byte(0x2c);
  out.ascii(`"${ts}","${nums[F.dur]}",`);
  str(F.node); out.ascii(`,${agentJson},${batchJson},${nums[F.pid]},`);
  str(F.process); out.byte(0x2c);
  str(F.containerId); out.byte(0x2c);
  str(F.namespace); out.byte(0x2c);
  str(F.pod); out.byte(0x2c);
  str(F.container); out.ascii(',{');
  for (let i = 0; i < labels.length; i += 2) {
    const m = new Reader(b, labels[i], labels[i + 1]);
    let ks = -1, ke = -1, vs = -1, ve = -1;
    while (m.pos < m.end) {
      const tag = m.varint();
      const n = (tag & 7) === 2 ? m.varint() : -1;
      if (n < 0 || m.pos + n > m.end) return 'labels: malformed entry';
      if (tag >> 3 === 1) { ks = m.pos; ke = m.pos + n; } else if (tag >> 3 === 2) { vs = m.pos; ve = m.pos + n; }
      m.pos += n;
    }
    if (ke - ks > 256 || ve - vs > 1024) return 'labels: an entry is too long';
    if (i > 0) out.byte(0x2c);
    if (ks < 0) out.ascii('""'); else out.jsonBytes(b, ks, ke);
    out.byte(0x3a);
    if (vs < 0) out.ascii('""'); else out.jsonBytes(b, vs, ve);
  }
  out.ascii(`},${ROLE[nums[F.role]]},"${srcIp || '::'}",${nums[F.srcPort]},"${dstIp || '::'}",${nums[F.dstPort]},`);
  str(F.method); out.byte(0x2c);
  str(F.host); out.byte(0x2c);
  str(F.path); out.byte(0x2c);
  out.jsonString(pathTemplate(text(F.path))); out.byte(0x2c);
  str(F.query); out.byte(0x2c);
  str(F.httpVersion); out.ascii(`,${status},"${nums[F.reqBytes]}","${nums[F.resBytes]}",`);
  str(F.userAgent); out.byte(0x2c);
  str(F.traceparent); out.byte(0x2c);
  str(F.reqSample); out.byte(0x2c);
  str(F.resSample);
  out.ascii(`,${nums[F.reqTrunc] !== 0},${nums[F.resTrunc] !== 0},${unmatched}]\n`);
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
  const agentJson = JSON.stringify(agentId);
  const batchJson = JSON.stringify(batchId);
  const starts = new Int32Array(NFIELDS);
  const ends = new Int32Array(NFIELDS);
  const nums = new Float64Array(NFIELDS);
  const labels: number[] = [];
  for (let i = 0; i < spans.length; i += 2) {
    const before = out.len;
    const problem = exchange(new Reader(msg, spans[i], spans[i + 1]), spans[i + 1], out, agentJson, batchJson, nowNs, starts, ends, nums, labels);
    if (problem) {
      out.len = before;
      return { ok: false, error: `exchanges[${i / 2}].${problem}`, batchId };
    }
  }
  return { ok: true, value: { batchId, agentId, count: spans.length / 2, rows: out.buf.subarray(0, out.len) } };
}
