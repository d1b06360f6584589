// ClickHouse's Native format, written column by column. The engine reads it with almost no
// parsing: with 50k-row inserts into http_exchanges (merges stopped) chDB took ~400k rows
// per CPU-second from Native against ~70k from JSONCompactEachRow, and the ClickHouse
// server's HTTP interface takes the same bytes. One block per agent batch; a coalesced
// insert is the batches' blocks one after another, which is itself a valid Native stream.
import { ByteBuffer } from '../../shared/bytes/byte-buffer.ts';

const TWO_32 = 4294967296;

/** One column's values as Native lays them out: fixed-width little-endian, or length-prefixed strings. */
export class ColumnBuffer extends ByteBuffer {
  /** b[s..e) as a String value. */
  str(b: Uint8Array, s: number, e: number): void {
    const n = e - s;
    if (n < 0x80) {
      this.room(n + 1);
      this.buf[this.len++] = n;
    } else {
      this.varint(n);
      this.room(n);
    }
    const o = this.buf;
    if (n > 256) {
      o.set(b.subarray(s, e), this.len); // a view per call: only worth it for long values
      this.len += n;
      return;
    }
    let p = this.len;
    for (let i = s; i < e; i++) o[p++] = b[i];
    this.len = p;
  }
  /** Bytes already in column layout (a constant value, with its length prefix if it is a string). */
  raw(b: Uint8Array): void {
    this.room(b.length);
    const o = this.buf;
    let p = this.len;
    for (let i = 0; i < b.length; i++) o[p++] = b[i];
    this.len = p;
  }
  u16(v: number): void {
    this.room(2);
    this.buf[this.len++] = v & 0xff;
    this.buf[this.len++] = v >>> 8;
  }
  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32LE(v, this.len);
    this.len += 4;
  }
  /** A non-negative integer below 2^53 as UInt64. */
  u64(v: number): void {
    const hi = Math.floor(v / TWO_32);
    this.u64Parts(hi, v - hi * TWO_32);
  }
  u64Parts(hi: number, lo: number): void {
    this.room(8);
    this.buf.writeUInt32LE(lo >>> 0, this.len);
    this.buf.writeUInt32LE(hi >>> 0, this.len + 4);
    this.len += 8;
  }
  reset(): void {
    this.len = 0;
  }
}

/** A String value's bytes in column layout, for constants written once per row. */
export function stringValue(s: string): Buffer {
  const c = new ColumnBuffer(s.length * 3 + 10);
  const b = Buffer.from(s, 'utf8');
  c.str(b, 0, b.length);
  return Buffer.from(c.written());
}

export interface NativeColumn {
  name: string;
  /** The type named in the block; the insert converts it to the table's (e.g. String → LowCardinality(String)). */
  type: string;
}

/**
 * The columns of a block, with their headers encoded once. A block is the column count,
 * the row count, then per column its name, type and data. A Map column's data is its
 * offsets, keys and values, so a column may come in several parts.
 */
export class NativeLayout {
  private readonly headers: Buffer[];
  constructor(columns: readonly NativeColumn[]) {
    this.headers = columns.map((c) => {
      const n = Buffer.from(c.name, 'utf8');
      const t = Buffer.from(c.type, 'utf8');
      const h = new ColumnBuffer(n.length + t.length + 4);
      h.str(n, 0, n.length);
      h.str(t, 0, t.length);
      return Buffer.from(h.written());
    });
  }

  block(data: readonly (readonly ColumnBuffer[])[], rows: number): Buffer {
    const head = new ColumnBuffer(20);
    head.varint(this.headers.length);
    head.varint(rows);
    let size = head.len;
    for (let i = 0; i < this.headers.length; i++) {
      size += this.headers[i].length;
      for (const part of data[i]) size += part.len;
    }
    const out = Buffer.allocUnsafe(size);
    let p = head.buf.copy(out, 0, 0, head.len);
    for (let i = 0; i < this.headers.length; i++) {
      p += this.headers[i].copy(out, p);
      for (const part of data[i]) p += part.buf.copy(out, p, 0, part.len);
    }
    return out;
  }
}
