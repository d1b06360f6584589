// Raw pump frames → typed events. Reads fields in place; only the payload slice is kept.
import { Buffer } from 'node:buffer';
import { u32le } from '../../shared/bytes/byte-buffer.ts';
import { AF_INET, EVENT, EV_CLOSE, EV_DATA, EV_EXIT, EV_HELLO, EV_STATS, HELLO, STATS, STAT_NAMES } from './event-layout.ts';

export interface DataEvent {
  kind: typeof EV_DATA | typeof EV_CLOSE | typeof EV_EXIT;
  tgid: number;
  fd: number;
  startNs: number;
  endNs: number;
  /** Kernel address of the socket (struct sock), high and low 32 bits: with tgid, one connection as one process sees it. */
  sockHi: number;
  sockLo: number;
  len: number;
  direction: number;
  /** hd_event.flags (F_TLS: plaintext from SSL_read/SSL_write). */
  flags: number;
  data: Uint8Array;
  /** The whole record is raw[at, at + size): fields needed once per connection are read from it on demand. */
  raw: Buffer;
  at: number;
}

export function eventComm(ev: DataEvent): string {
  const b = ev.raw;
  const from = ev.at + EVENT.comm;
  const end = b.indexOf(0, from);
  return b.toString('latin1', from, end < 0 || end > from + 16 ? from + 16 : end);
}

export function eventAddrs(ev: DataEvent): { family: number; laddr: string; lport: number; raddr: string; rport: number } {
  const b = ev.raw;
  const at = ev.at;
  const family = b.readUInt16LE(at + EVENT.family);
  return {
    family,
    laddr: formatIp(family, b.subarray(at + EVENT.laddr, at + EVENT.laddr + 16)),
    lport: b.readUInt16LE(at + EVENT.lport),
    raddr: formatIp(family, b.subarray(at + EVENT.raddr, at + EVENT.raddr + 16)),
    rport: b.readUInt16LE(at + EVENT.rport),
  };
}

// Plain byte reads: records are checked once, not per field.
const u32 = u32le;
const u64 = (b: Buffer, at: number) => u32(b, at + 4) * 4294967296 + u32(b, at);

export interface HelloFrame { kind: typeof EV_HELLO; realtimeOffsetNs: bigint; captureBytes: number; ncpus: number }
export interface StatsFrame { kind: typeof EV_STATS; counters: Record<(typeof STAT_NAMES)[number], number>; progRunNs: number; progRunCnt: number; realtimeOffsetNs: bigint }
export type Frame = DataEvent | HelloFrame | StatsFrame;

/** Decodes the frame at b[at, end) (the whole buffer by default). */
export function decodeFrame(b: Buffer, at = 0, end = b.length): Frame | null {
  const size = end - at;
  if (size < 4) return null;
  const kind = u32(b, at);
  if (kind === EV_DATA || kind === EV_CLOSE || kind === EV_EXIT) {
    if (size < EVENT.size) return null;
    const captured = u32(b, at + EVENT.captured);
    if (EVENT.size + captured > size) return null;
    const tgid = u32(b, at + EVENT.tgid);
    return {
      kind,
      tgid,
      fd: u32(b, at + EVENT.fd) | 0,
      startNs: u64(b, at + EVENT.start_ns),
      endNs: u64(b, at + EVENT.end_ns),
      sockHi: u32(b, at + EVENT.sock_id + 4),
      sockLo: u32(b, at + EVENT.sock_id),
      len: u32(b, at + EVENT.len),
      direction: b[at + EVENT.direction],
      flags: b[at + EVENT.flags],
      data: b.subarray(at + EVENT.size, at + EVENT.size + captured),
      raw: b,
      at,
    };
  }
  if (at !== 0 || end !== b.length) return decodeFrame(b.subarray(at, end));
  if (kind === EV_HELLO && b.length >= HELLO.size) {
    return { kind, realtimeOffsetNs: b.readBigInt64LE(HELLO.realtime_offset_ns), captureBytes: b.readUInt32LE(HELLO.capture_bytes), ncpus: b.readUInt32LE(HELLO.ncpus) };
  }
  if (kind === EV_STATS && b.length >= STATS.size) {
    const counters = {} as StatsFrame['counters'];
    STAT_NAMES.forEach((name, i) => (counters[name] = Number(b.readBigUInt64LE(STATS.counters + 8 * i))));
    return { kind, counters, progRunNs: Number(b.readBigUInt64LE(STATS.prog_run_ns)), progRunCnt: Number(b.readBigUInt64LE(STATS.prog_run_cnt)), realtimeOffsetNs: b.readBigInt64LE(STATS.realtime_offset_ns) };
  }
  return null;
}

/** A stretch of a syscall's bytes: what was captured of it (from its start) and how long it was. */
export interface Piece { data: Uint8Array; len: number }

/**
 * An HD_F_PIECES record's payload as pieces in syscall order: the head, then what the kernel
 * found past it (HTTP/2: each frame header, with the payload of header blocks and control
 * frames, src/kernel/h2_walk.bpf.h; HTTP/1: each message head, h1_walk.bpf.h), each piece
 * running to where the next begins:
 *   head[P] { u32 offset, u32 n, n bytes }* u32 P
 * null when the layout does not hold; the caller then keeps what is surely the head.
 */
export function recordPieces(data: Uint8Array, len: number): Piece[] | null {
  const end = data.length - 4;
  if (end < 0) return null;
  const head = u32(data, end);
  if (head > end || head > len) return null;
  const pieces: Piece[] = [];
  let at = head;
  let regionStart = 0;
  let captured = data.subarray(0, head);
  while (at < end) {
    if (end - at < 8) return null;
    const off = u32(data, at);
    const n = u32(data, at + 4);
    // Offsets rise, each past the bytes already accounted for, and stay inside the syscall.
    if (off < regionStart + captured.length || off > len || n > end - at - 8 || n > len - off) return null;
    pieces.push({ data: captured, len: off - regionStart });
    regionStart = off;
    captured = data.subarray(at + 8, at + 8 + n);
    at += 8 + n;
  }
  pieces.push({ data: captured, len: len - regionStart });
  return pieces;
}

/** Socket address bytes → text; IPv4-mapped IPv6 becomes dotted IPv4. */
export function formatIp(family: number, a: Uint8Array): string {
  if (family === AF_INET) return `${a[0]}.${a[1]}.${a[2]}.${a[3]}`;
  let mapped = a[10] === 0xff && a[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) if (a[i] !== 0) mapped = false;
  if (mapped) return `${a[12]}.${a[13]}.${a[14]}.${a[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((a[i] << 8) | a[i + 1]);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/**
 * Splits a byte stream into length-prefixed frames, handed over in place as buf[start, end).
 * Only a frame cut by a chunk boundary is copied (not the whole chunk).
 */
export class FrameSplitter {
  private pending: Buffer | null = null;

  push(chunk: Buffer, onFrame: (buf: Buffer, start: number, end: number) => void): void {
    let off = 0;
    if (this.pending) {
      // Complete the cut frame with just enough of this chunk.
      let p = this.pending;
      if (p.length < 4) {
        off = Math.min(4 - p.length, chunk.length);
        p = Buffer.concat([p, chunk.subarray(0, off)]);
      }
      const total = p.length < 4 ? Infinity : 4 + u32(p, 0);
      const take = Math.min(total - p.length, chunk.length - off);
      if (take > 0) p = Buffer.concat([p, chunk.subarray(off, off + take)]);
      off += Math.max(0, take);
      if (p.length < total) {
        this.pending = p;
        return;
      }
      this.pending = null;
      onFrame(p, 4, total);
    }
    this.scan(chunk, off, onFrame);
  }

  private scan(buf: Buffer, off: number, onFrame: (buf: Buffer, start: number, end: number) => void): void {
    while (buf.length - off >= 4) {
      const len = u32(buf, off);
      if (buf.length - off - 4 < len) break;
      onFrame(buf, off + 4, off + 4 + len);
      off += 4 + len;
    }
    this.pending = off < buf.length ? Buffer.from(buf.subarray(off)) : null;
  }
}
