// ClickHouse's Native format, written column by column. The engine reads it with almost no
// parsing: with 50k-row inserts into http_exchanges (merges stopped) chDB took ~400k rows
// per CPU-second from Native against ~70k from JSONCompactEachRow, and the ClickHouse
// server's HTTP interface takes the same bytes. A coalesced insert is one block holding every
// batch's rows: the engine pays ~0.7 ms per block it is sent (20 blocks of 200 rows took
// 29 ms of CPU to insert, one block of the same 4,000 rows 15 ms), so batches keep their
// column data apart and are joined per insert.
import { ByteBuffer } from '../../shared/bytes/byte-buffer.ts';

const TWO_32 = 4294967296;

/** One column's values as Native lays them out: fixed-width little-endian, or length-prefixed strings. */
export class ColumnBuffer extends ByteBuffer {
  /** b[s..e) as a String value. */
  str(b: Buffer, s: number, e: number): void {
    const n = e - s;
    if (n < 0x80) {
      this.room(n + 1);
      this.buf[this.len++] = n;
    } else {
      this.varint(n);
      this.room(n);
    }
    if (n > 24) {
      // Buffer#copy is a memcpy with no view object; below ~24 bytes the loop is cheaper than the call.
      this.len += b.copy(this.buf, this.len, s, e);
      return;
    }
    const o = this.buf;
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
  /** A non-negative integer below 2^53 as UInt64. */
  u64(v: number): void {
    const hi = Math.floor(v / TWO_32);
    this.u64Parts(hi, v - hi * TWO_32);
  }
  u64Parts(hi: number, lo: number): void {
    this.u32(lo);
    this.u32(hi);
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

/** One batch's rows, column by column: part k of the layout is data[bounds[2k], bounds[2k+1]). */
export interface ColumnData {
  rows: number;
  data: Buffer;
  bounds: Int32Array;
}

/**
 * The columns of a block, with their headers encoded once. A block is the column count,
 * the row count, then per column its name, type and data. A Map column's data is its
 * offsets, keys and values, so a column may come in several parts.
 */
export class NativeLayout {
  private readonly headers: Buffer[];
  /** Parts per column: 3 for a Map (offsets, keys, values), else 1. */
  private readonly partCounts: number[];
  constructor(columns: readonly NativeColumn[]) {
    this.partCounts = columns.map((c) => (c.type.startsWith('Map(') ? 3 : 1));
    this.headers = columns.map((c) => {
      const n = Buffer.from(c.name, 'utf8');
      const t = Buffer.from(c.type, 'utf8');
      const h = new ColumnBuffer(n.length + t.length + 4);
      h.str(n, 0, n.length);
      h.str(t, 0, t.length);
      return Buffer.from(h.written());
    });
  }

  /** Copies one batch's column buffers (scratch, reused by the next batch) out, in one buffer. */
  capture(data: readonly (readonly ColumnBuffer[])[], rows: number): ColumnData {
    let size = 0;
    for (const parts of data) for (const part of parts) size += part.len;
    const out = Buffer.allocUnsafe(size);
    const bounds = new Int32Array(2 * data.reduce((a, parts) => a + parts.length, 0));
    let p = 0;
    let k = 0;
    for (const parts of data) {
      for (const part of parts) {
        bounds[k++] = p;
        p += part.buf.copy(out, p, 0, part.len);
        bounds[k++] = p;
      }
    }
    return { rows, data: out, bounds };
  }

  /** One Native block with the rows of every batch, in order. */
  join(batches: readonly ColumnData[]): Buffer {
    const head = new ColumnBuffer(20);
    head.varint(this.headers.length);
    head.varint(batches.reduce((a, b) => a + b.rows, 0));
    let size = head.len;
    for (const h of this.headers) size += h.length;
    for (const b of batches) size += b.data.length;
    const out = Buffer.allocUnsafe(size);
    let p = head.buf.copy(out, 0, 0, head.len);
    let part = 0;
    for (let c = 0; c < this.headers.length; c++) {
      p += this.headers[c].copy(out, p);
      if (this.partCounts[c] === 3) {
        p = this.joinMap(batches, part, out, p);
        part += 3;
        continue;
      }
      for (const b of batches) p += b.data.copy(out, p, b.bounds[2 * part], b.bounds[2 * part + 1]);
      part++;
    }
    return out;
  }

  /** A Map column: every batch's offsets (shifted by the entries before it), then all keys, then all values. */
  private joinMap(batches: readonly ColumnData[], part: number, out: Buffer, p: number): number {
    let base = 0;
    for (const b of batches) {
      const s = b.bounds[2 * part];
      const e = b.bounds[2 * part + 1];
      let last = 0;
      for (let i = s; i < e; i += 8) {
        const v = b.data.readUInt32LE(i + 4) * TWO_32 + b.data.readUInt32LE(i);
        const shifted = v + base;
        const hi = Math.floor(shifted / TWO_32);
        out.writeUInt32LE(shifted - hi * TWO_32, p);
        out.writeUInt32LE(hi, p + 4);
        p += 8;
        last = v;
      }
      base += last; // offsets are cumulative: the last is the batch's entry count
    }
    for (const k of [1, 2]) for (const b of batches) p += b.data.copy(out, p, b.bounds[2 * (part + k)], b.bounds[2 * (part + k) + 1]);
    return p;
  }

}
