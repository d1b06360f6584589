// A growable byte buffer for the encoders on hot paths (the agent's protobuf writer, the
// server's row transcoder): callers reserve room, then write into `buf` at `len` directly.
import { Buffer } from 'node:buffer';

export class ByteBuffer {
  buf: Buffer;
  len = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  /** Makes room for n more bytes. */
  room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  /** LEB128 of a non-negative integer below 2^53: protobuf's varint and ClickHouse's VarUInt alike. */
  varint(v: number): void {
    this.room(10);
    const o = this.buf;
    while (v >= 0x80) {
      o[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    o[this.len++] = v;
  }
  /** Little-endian u32. Plain stores: Buffer#writeUInt32LE checks its arguments on every call. */
  u32(v: number): void {
    this.room(4);
    const o = this.buf;
    const p = this.len;
    o[p] = v;
    o[p + 1] = v >>> 8;
    o[p + 2] = v >>> 16;
    o[p + 3] = v >>> 24;
    this.len = p + 4;
  }
  byte(c: number): void {
    this.room(1);
    this.buf[this.len++] = c;
  }
  /** The bytes written so far (a view, not a copy). */
  written(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

/** Little-endian u32 at b[at]: plain index reads (Buffer#readUInt32LE checks bounds per call). */
export function u32le(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}
