// HPACK (RFC 7541) header block decoding for HTTP/2 capture: one decoder per direction of a
// connection, since the dynamic table is state the encoder and decoder share. Pure, never
// throws: a block that cannot be decoded returns null and the caller stops trusting the
// table (every later block could be read wrong).
import { Buffer } from 'node:buffer';

export interface HeaderField {
  name: string;
  value: string;
}

/** A field whose table entry was inserted by a header block the capture did not see. */
export const UNKNOWN_FIELD: HeaderField = Object.freeze({ name: '', value: '' });

/*
 * Huffman code lengths per symbol (0–255, then EOS). The code is canonical: codes of one length
 * are consecutive in symbol order, shorter codes first, so the lengths define it. Lengths of the
 * symbols a header value may hold were measured from Node's encoder (nghttp2), the control
 * characters' taken from RFC 7541 Appendix B; the lengths make a complete code (Kraft sum
 * exactly 1), and hpack.test.ts decodes what nghttp2 encodes.
 */
const CODE_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];
const EOS = 256;
const MAX_CODE = 30;

// Canonical decoding: per length, the first code and where its symbols start in SYMBOLS.
const SYMBOLS: number[] = [];
const FIRST_CODE = new Array<number>(MAX_CODE + 2).fill(0);
const COUNT = new Array<number>(MAX_CODE + 2).fill(0);
const OFFSET = new Array<number>(MAX_CODE + 2).fill(0);
{
  for (let len = 1; len <= MAX_CODE; len++) {
    OFFSET[len] = SYMBOLS.length;
    for (let s = 0; s < CODE_LENGTHS.length; s++) if (CODE_LENGTHS[s] === len) SYMBOLS.push(s);
    COUNT[len] = SYMBOLS.length - OFFSET[len];
  }
  let code = 0;
  for (let len = 1; len <= MAX_CODE; len++) {
    FIRST_CODE[len] = code;
    code = (code + COUNT[len]) * 2;
  }
}

/** Huffman-coded bytes → latin1 text, or null when they are not a valid HPACK string. */
export function huffmanDecode(b: Uint8Array, start: number, end: number): string | null {
  const out: number[] = [];
  let code = 0;
  let len = 0;
  for (let i = start; i < end; i++) {
    const byte = b[i];
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      len++;
      if (len > MAX_CODE) return null;
      const k = code - FIRST_CODE[len];
      if (k >= 0 && k < COUNT[len]) {
        const sym = SYMBOLS[OFFSET[len] + k];
        if (sym === EOS) return null; // EOS inside a string is an error (RFC 7541 5.2)
        out.push(sym);
        code = 0;
        len = 0;
      }
    }
  }
  // Padding: fewer than 8 bits, all ones (the EOS prefix).
  if (len > 7 || code !== 2 ** len - 1) return null;
  return Buffer.from(out).toString('latin1');
}

const STATIC: readonly [string, string][] = [
  ['', ''], // index 0 is not used
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'], [':scheme', 'http'], [':scheme', 'https'],
  [':status', '200'], [':status', '204'], [':status', '206'], [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'],
  ['accept-charset', ''], ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''], ['content-disposition', ''],
  ['content-encoding', ''], ['content-language', ''], ['content-length', ''], ['content-location', ''], ['content-range', ''], ['content-type', ''],
  ['cookie', ''], ['date', ''], ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''],
  ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''], ['referer', ''],
  ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];
const STATIC_COUNT = STATIC.length - 1; // 61

/** An entry's size counts 32 bytes beside its name and value (RFC 7541 4.1). */
const ENTRY_OVERHEAD = 32;
/** SETTINGS_HEADER_TABLE_SIZE's default; encoders announce other sizes in the blocks. */
const DEFAULT_TABLE_SIZE = 4096;
/** What a peer may announce before we stop following (bounds the agent's memory). */
const MAX_TABLE_SIZE = 1 << 20;

export class HpackDecoder {
  /** Newest first, as HPACK indexes it. */
  private table: HeaderField[] = [];
  private size = 0;
  private maxSize = DEFAULT_TABLE_SIZE;
  /** Blocks went by unseen: entries older than the ones kept since are unknown, not errors. */
  private afterGap = false;

  /**
   * Header blocks went by unseen, and with them insertions: every entry kept so far may now sit
   * at another index. Entries inserted from here on are indexed right (they are the newest);
   * references past them decode as UNKNOWN_FIELD.
   */
  gap(): void {
    this.table = [];
    this.size = 0;
    this.afterGap = true;
  }

  /**
   * The fields of one complete header block, or null when it cannot be decoded. prefix: b holds
   * only the block's first bytes (the capture cut it): the fields before the first one that
   * does not fit are returned (the caller then treats the table as after a gap()).
   */
  decode(b: Uint8Array, start = 0, end = b.length, prefix = false): HeaderField[] | null {
    const out: HeaderField[] = [];
    const fail = prefix ? out : null;
    const r = { p: start };
    while (r.p < end) {
      const c = b[r.p];
      if (c & 0x80) {
        const idx = readInt(b, r, end, 7);
        const f = idx === null ? null : this.field(idx);
        if (!f) return fail;
        out.push(f);
      } else if (c & 0x40) {
        const f = this.literal(b, r, end, 6);
        if (!f) return fail;
        out.push(f);
        this.insert(f);
      } else if (c & 0x20) {
        const size = readInt(b, r, end, 5);
        if (size === null || size > MAX_TABLE_SIZE) return fail;
        this.maxSize = size;
        this.evict(0);
      } else {
        // Without indexing (0000) or never indexed (0001): the table does not change.
        const f = this.literal(b, r, end, 4);
        if (!f) return fail;
        out.push(f);
      }
    }
    return out;
  }

  private field(idx: number): HeaderField | null {
    if (idx <= 0) return null;
    if (idx <= STATIC_COUNT) return { name: STATIC[idx][0], value: STATIC[idx][1] };
    return this.table[idx - STATIC_COUNT - 1] ?? (this.afterGap ? UNKNOWN_FIELD : null);
  }

  private literal(b: Uint8Array, r: { p: number }, end: number, prefix: number): HeaderField | null {
    const idx = readInt(b, r, end, prefix);
    if (idx === null) return null;
    let name: string | null;
    if (idx === 0) name = readString(b, r, end);
    else name = this.field(idx)?.name ?? null;
    if (name === null) return null;
    const value = readString(b, r, end);
    if (value === null) return null;
    // An unknown name stays unknown (name ''), but the entry still takes its place in the table.
    return { name, value };
  }

  private insert(f: HeaderField): void {
    const size = f.name.length + f.value.length + ENTRY_OVERHEAD;
    this.evict(size);
    if (size > this.maxSize) return; // larger than the table: it empties it and is not kept
    this.table.unshift(f);
    this.size += size;
  }

  private evict(room: number): void {
    while (this.table.length > 0 && this.size + room > this.maxSize) {
      const old = this.table.pop()!;
      this.size -= old.name.length + old.value.length + ENTRY_OVERHEAD;
    }
  }
}

/** An HPACK integer with an N-bit prefix at b[r.p] (RFC 7541 5.1), or null if cut or absurd. */
function readInt(b: Uint8Array, r: { p: number }, end: number, prefix: number): number | null {
  if (r.p >= end) return null;
  const max = (1 << prefix) - 1;
  let v = b[r.p++] & max;
  if (v < max) return v;
  let shift = 0;
  for (;;) {
    if (r.p >= end || shift > 28) return null;
    const c = b[r.p++];
    v += (c & 0x7f) * 2 ** shift;
    shift += 7;
    if ((c & 0x80) === 0) return v;
  }
}

function readString(b: Uint8Array, r: { p: number }, end: number): string | null {
  if (r.p >= end) return null;
  const huffman = (b[r.p] & 0x80) !== 0;
  const n = readInt(b, r, end, 7);
  if (n === null || r.p + n > end) return null;
  const s = huffman ? huffmanDecode(b, r.p, r.p + n) : Buffer.from(b.buffer, b.byteOffset + r.p, n).toString('latin1');
  r.p += n;
  return s;
}
