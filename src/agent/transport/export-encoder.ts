// ExportRequest → protobuf bytes, written straight into one growing buffer. The generated
// encoder keeps a chunk list and runs TextEncoder per string; in the agent that was a fifth
// of the user-space CPU per exchange. The bytes are identical to the generated encoder's
// (same field order, defaults skipped): export-encoder.test.ts checks it.
import { Buffer } from 'node:buffer';
import { ByteBuffer } from '../../shared/bytes/byte-buffer.ts';
import type { ExportRequest, HttpExchange } from '../../shared/proto/gen/heimdall/v1/ingest.ts';
import { ID_LENGTH, toRecord, writeId, type ExchangeRecord } from '../exchange-record.ts';

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;

class Writer extends ByteBuffer {
  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }
  uintField(field: number, v: number): void {
    if (v === 0) return;
    this.tag(field, WIRE_VARINT);
    this.varint(v);
  }
  /** A uint64 held as a number (exact below 2^53). */
  uint64Field(field: number, v: number): void {
    if (v <= 0) return;
    this.tag(field, WIRE_VARINT);
    this.varint(v);
  }
  boolField(field: number, v: boolean): void {
    if (!v) return;
    this.tag(field, WIRE_VARINT);
    this.buf[this.len++] = 1; // tag() left room
  }
  stringField(field: number, s: string): void {
    const n = s.length;
    if (n === 0) return;
    this.tag(field, WIRE_LEN);
    if (n < 0x80) {
      // Short ASCII (nearly every field): check and copy in one pass, length in one byte.
      this.room(n + 1);
      const o = this.buf;
      let p = this.len + 1;
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) {
          this.utf8(s);
          return;
        }
        o[p++] = c;
      }
      o[this.len] = n;
      this.len = p;
      return;
    }
    this.utf8(s);
  }
  /** Length-prefixed UTF-8 of s (the tag is already written). */
  private utf8(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.varint(n);
    this.room(n);
    this.len += this.buf.write(s, this.len, n, 'utf8');
  }
  bytesField(field: number, b: Uint8Array): void {
    if (b.length === 0) return;
    this.tag(field, WIRE_LEN);
    this.varint(b.length);
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  /** Starts a length-delimited sub-message, keeping 2 bytes for its length (most fit). */
  begin(field: number): number {
    this.tag(field, WIRE_LEN);
    this.room(2);
    this.len += 2;
    return this.len;
  }
  /** Writes the sub-message's length, moving its bytes when the length is not 2 bytes long. */
  end(start: number): void {
    const size = this.len - start;
    let width = 1;
    for (let v = size; v >= 0x80; v = Math.floor(v / 0x80)) width++;
    if (width !== 2) {
      this.room(width);
      this.buf.copyWithin(start - 2 + width, start, this.len);
      this.len += width - 2;
    }
    let p = start - 2;
    let v = size;
    while (v >= 0x80) {
      this.buf[p++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[p] = v;
  }
}

/**
 * Fields 4–16 (node … dst_port) are the same for every exchange of one connection once
 * enriched. Their encoding is kept per (pid, ports) slot and copied when every field is the
 * same value again: encoding them was a third of the encoder's time.
 */
interface ConnFields {
  node: string; pid: number; process: string; containerId: string; namespace: string; pod: string; container: string;
  labels: ExchangeRecord['labels']; role: number; srcIp: string; srcPort: number; dstIp: string; dstPort: number; bytes: Buffer;
}
const CONN_SLOTS = 512;
const connSlots: (ConnFields | undefined)[] = new Array<ConnFields | undefined>(CONN_SLOTS);

function sameConn(c: ConnFields, x: ExchangeRecord): boolean {
  return c.pid === x.pid && c.srcPort === x.srcPort && c.dstPort === x.dstPort && c.role === x.role && c.labels === x.labels &&
    c.srcIp === x.srcIp && c.dstIp === x.dstIp && c.process === x.process && c.node === x.node && c.containerId === x.containerId &&
    c.namespace === x.namespace && c.pod === x.pod && c.container === x.container;
}

function connFields(w: Writer, x: ExchangeRecord): void {
  const slot = ((x.pid * 31 + x.srcPort) * 31 + x.dstPort) % CONN_SLOTS;
  const cached = connSlots[slot];
  if (cached !== undefined && sameConn(cached, x)) {
    w.room(cached.bytes.length);
    w.buf.set(cached.bytes, w.len);
    w.len += cached.bytes.length;
    return;
  }
  const start = w.len;
  w.stringField(4, x.node);
  w.uintField(5, x.pid);
  w.stringField(6, x.process);
  w.stringField(7, x.containerId);
  w.stringField(8, x.namespace);
  w.stringField(9, x.pod);
  w.stringField(10, x.container);
  for (const key in x.labels) {
    const at = w.begin(11);
    w.stringField(1, key);
    w.stringField(2, x.labels[key]);
    w.end(at);
  }
  w.uintField(12, x.role);
  w.stringField(13, x.srcIp);
  w.uintField(14, x.srcPort);
  w.stringField(15, x.dstIp);
  w.uintField(16, x.dstPort);
  const { node, pid, process, containerId, namespace, pod, container, labels, role, srcIp, srcPort, dstIp, dstPort } = x;
  connSlots[slot] = { node, pid, process, containerId, namespace, pod, container, labels, role, srcIp, srcPort, dstIp, dstPort, bytes: Buffer.from(w.buf.subarray(start, w.len)) };
}

function exchange(w: Writer, x: ExchangeRecord): void {
  if (x.idPrefix !== null) {
    w.tag(1, WIRE_LEN);
    w.room(1 + ID_LENGTH);
    w.buf[w.len] = ID_LENGTH;
    writeId(w.buf, w.len + 1, x.idPrefix, x.idSeq);
    w.len += 1 + ID_LENGTH;
  } else w.stringField(1, x.id);
  if (x.timestampHi !== 0 || x.timestampLo !== 0) {
    w.tag(2, WIRE_FIXED64);
    w.u32(x.timestampLo);
    w.u32(x.timestampHi);
  }
  w.uint64Field(3, x.durationNs);
  connFields(w, x);
  w.stringField(17, x.method);
  w.stringField(18, x.host);
  w.stringField(19, x.path);
  w.stringField(20, x.query);
  w.stringField(21, x.httpVersion);
  w.uintField(22, x.status);
  w.uint64Field(23, x.requestBytes);
  w.uint64Field(24, x.responseBytes);
  w.stringField(25, x.userAgent);
  w.stringField(26, x.traceparent);
  w.bytesField(27, x.requestSample);
  w.bytesField(28, x.responseSample);
  w.boolField(29, x.requestTruncated);
  w.boolField(30, x.responseTruncated);
  w.boolField(31, x.unmatched);
  w.boolField(32, x.tls);
  w.stringField(33, x.grpcStatus);
}

const HEADROOM = 512; // for the ExportRequest's header fields, written in front when sent
// Enough for every batch of a full send window (AGENT_MAX_INFLIGHT_BATCHES, 256) to come back:
// acknowledgements arrive in bursts of a whole insert's batches, and with 8 kept most of them
// were dropped and the next batches allocated afresh (five full GCs in 14 s at 10k req/s
// against one). Bounded in bytes too, for large AGENT_BATCH_SIZE. Buffers are pooled only as
// many as were out at once: at 10k req/s that is ~50 (a server stores every 500 ms).
const POOL_MAX = 264;
const POOL_MAX_BYTES = 32 << 20;
const pool: Buffer[] = [];
let pooledBytes = 0;

/**
 * Exchanges encoded as they are produced, as the ExportRequest's repeated field 4: a queued
 * record is bytes, not an object graph. The buffer comes from a small pool and goes back
 * once the batch is done: a fresh ~100 KB buffer per batch counted as external memory and
 * made V8 run a full mark-compact every ~0.5 s at 10k req/s (~10% of a core).
 */
export class ExchangeEntries {
  count = 0;
  private readonly w: Writer;
  constructor(expected: number) {
    this.w = new Writer(0);
    const size = HEADROOM + expected * 512;
    const reused = pool.length > 0 && pool[pool.length - 1].length >= size ? pool.pop()! : null;
    if (reused) pooledBytes -= reused.length;
    this.w.buf = reused ?? Buffer.allocUnsafe(size);
    this.w.len = HEADROOM;
  }
  add(x: ExchangeRecord): void {
    const at = this.w.begin(4);
    exchange(this.w, x);
    this.w.end(at);
    this.count++;
  }
  /** The encoded entries alone. */
  get bytes(): Buffer {
    return this.w.buf.subarray(HEADROOM, this.w.len);
  }
  /**
   * The whole ExportRequest: its header fields written into the room kept in front (no copy),
   * after `spare` bytes left for the transport's own prefix (gRPC's 5).
   */
  request(batchId: string, agentId: string, node: string, maxInFlight = 0, spare = 0): Buffer {
    const h = header(batchId, agentId, node, maxInFlight);
    if (h.len + spare > HEADROOM) return exportRequestBytes(batchId, agentId, node, maxInFlight, this.bytes, spare);
    h.buf.copy(this.w.buf, HEADROOM - h.len, 0, h.len);
    return this.w.buf.subarray(HEADROOM - h.len - spare, this.w.len);
  }
  /** The batch is done with (stored or dropped): its buffer serves the next one. */
  release(): void {
    const b = this.w.buf;
    if (b.length > 0 && pool.length < POOL_MAX && pooledBytes + b.length <= POOL_MAX_BYTES) {
      pool.push(b);
      pooledBytes += b.length;
    }
    this.w.buf = EMPTY;
    this.w.len = 0;
  }
}

const EMPTY = Buffer.alloc(0);

/** ExportRequest's fields other than the exchanges (protobuf allows any field order). */
function header(batchId: string, agentId: string, node: string, maxInFlight: number, extra = 0, spare = 0): Writer {
  const w = new Writer(128 + extra + spare);
  w.len = spare; // left for the caller (the transport's prefix)
  w.stringField(1, batchId);
  w.stringField(2, agentId);
  w.stringField(3, node);
  w.uintField(5, maxInFlight);
  return w;
}

/** ExportRequest's fields before its exchanges, on their own (senders that keep entries apart). */
export function exportRequestHeader(batchId: string, agentId: string, node: string, maxInFlight = 0): Buffer {
  return header(batchId, agentId, node, maxInFlight).written();
}

/** A whole ExportRequest from its header fields and already encoded entries. */
function exportRequestBytes(batchId: string, agentId: string, node: string, maxInFlight: number, entries: Uint8Array, spare = 0): Buffer {
  const w = header(batchId, agentId, node, maxInFlight, entries.length, spare);
  w.room(entries.length);
  w.buf.set(entries, w.len);
  w.len += entries.length;
  return w.written();
}

export function encodeExportRequest(req: ExportRequest): Buffer {
  return exportRequestBytes(req.batchId, req.agentId, req.node, req.maxInFlight, encodeEntries(req.exchanges).bytes);
}

/** Protobuf objects (tests, tools) → entries: counts must be below 2^53. */
export function encodeEntries(exchanges: HttpExchange[]): ExchangeEntries {
  const e = new ExchangeEntries(exchanges.length);
  for (const x of exchanges) e.add(toRecord(x));
  return e;
}
