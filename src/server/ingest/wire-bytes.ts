// Byte-level helpers of the ingest transcoder: a protobuf reader over a Buffer and a growable
// output buffer that writes JSON strings and decimal numbers without making JS strings.
import { ByteBuffer } from '../../shared/bytes/byte-buffer.ts';

const HEX = '0123456789abcdef';
// 1 for bytes a JSON string must escape: control characters, quote, backslash.
const JSON_ESC = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) JSON_ESC[c] = 1;
JSON_ESC[0x22] = 1;
JSON_ESC[0x5c] = 1;

/** Protobuf wire reader over b[start..end). */
export class Reader {
  pos = 0;
  b: Buffer;
  end: number;
  constructor(b: Buffer, start: number, end: number) {
    this.b = b;
    this.pos = start;
    this.end = end;
  }
  reset(start: number, end: number): this {
    this.pos = start;
    this.end = end;
    return this;
  }
  /** Varint as a double (exact below 2^53, which every field here stays under), or -1 if malformed. */
  varint(): number {
    if (this.pos < this.end && this.b[this.pos] < 0x80) return this.b[this.pos++];
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

/** Growable output buffer of bytes. Numbers and constants are written as bytes: no strings per row. */
export class Out extends ByteBuffer {
  bytes(b: Uint8Array): void {
    this.room(b.length);
    const o = this.buf;
    let n = this.len;
    for (let i = 0; i < b.length; i++) o[n++] = b[i];
    this.len = n;
  }
  /** Two bytes, e.g. separator pairs like `",` */
  pair(a: number, b: number): void {
    this.room(2);
    this.buf[this.len++] = a;
    this.buf[this.len++] = b;
  }
  /** A non-negative integer below 2^53, in decimal. */
  uint(v: number): void {
    this.room(16);
    const o = this.buf;
    if (v < 10) {
      o[this.len++] = 48 + v;
      return;
    }
    if (v > 0x7fffffff) {
      const high = Math.floor(v / 1e9);
      this.uint(high);
      this.room(9);
      this.nine(v - high * 1e9);
      return;
    }
    let x = v | 0;
    const digits = x < 100 ? 2 : x < 1000 ? 3 : x < 10000 ? 4 : x < 100000 ? 5 : x < 1000000 ? 6 : x < 10000000 ? 7 : x < 100000000 ? 8 : x < 1000000000 ? 9 : 10;
    let n = this.len + digits;
    this.len = n;
    while (x > 0) {
      const q = (x / 10) | 0;
      o[--n] = 48 + x - q * 10;
      x = q;
    }
  }
  /** 0 <= v < 1e9 as exactly nine digits, zero-padded. */
  nine(v: number): void {
    this.room(9);
    const o = this.buf;
    let x = v | 0;
    for (let i = this.len + 8; i >= this.len; i--) {
      const q = (x / 10) | 0;
      o[i] = 48 + x - q * 10;
      x = q;
    }
    this.len += 9;
  }
  /** hi * 2^32 + lo in decimal, without BigInt: long division by 1e9 over 16-bit limbs. */
  uint64(hi: number, lo: number): void {
    const limbs = [hi >>> 16, hi & 0xffff, lo >>> 16, lo & 0xffff];
    let q = 0;
    let rem = 0;
    for (const limb of limbs) {
      const cur = rem * 65536 + limb; // < 1e9 * 65536: exact in a double
      const d = Math.floor(cur / 1e9);
      rem = cur - d * 1e9;
      q = q * 65536 + d; // q < 2^64 / 1e9: exact
    }
    if (q === 0) {
      this.uint(rem);
      return;
    }
    this.uint(q);
    this.nine(rem);
  }
  /** b[start..end) as a JSON string; bytes >= 0x80 pass through (UTF-8 text, or raw sample bytes). */
  jsonBytes(b: Buffer, start: number, end: number): void {
    this.room((end - start) * 6 + 2);
    const o = this.buf;
    let n = this.len;
    o[n++] = 0x22;
    for (let i = start; i < end; i++) {
      const c = b[i];
      if (JSON_ESC[c] === 0) o[n++] = c;
      else if (c === 0x22 || c === 0x5c) {
        o[n++] = 0x5c;
        o[n++] = c;
      } else {
        o[n++] = 0x5c; o[n++] = 0x75; o[n++] = 0x30; o[n++] = 0x30;
        o[n++] = HEX.charCodeAt(c >> 4);
        o[n++] = HEX.charCodeAt(c & 15);
      }
    }
    o[n++] = 0x22;
    this.len = n;
  }
}
