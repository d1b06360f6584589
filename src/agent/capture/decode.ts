// Raw pump frames → typed events. Reads fields in place; only the payload slice is kept.
import { AF_INET, EVENT, EV_CLOSE, EV_DATA, EV_HELLO, EV_STATS, HELLO, STATS, STAT_NAMES } from './event-layout.ts';

export interface DataEvent {
  kind: typeof EV_DATA | typeof EV_CLOSE;
  tgid: number;
  tid: number;
  fd: number;
  startNs: number;
  endNs: number;
  sockId: bigint;
  len: number;
  family: number;
  lport: number;
  rport: number;
  direction: number;
  flags: number;
  laddr: Uint8Array;
  raddr: Uint8Array;
  comm: string;
  data: Uint8Array;
}

export interface HelloFrame { kind: typeof EV_HELLO; realtimeOffsetNs: bigint; captureBytes: number; ncpus: number }
export interface StatsFrame { kind: typeof EV_STATS; counters: Record<(typeof STAT_NAMES)[number], number>; progRunNs: number; progRunCnt: number }
export type Frame = DataEvent | HelloFrame | StatsFrame;

export function decodeFrame(b: Buffer): Frame | null {
  if (b.length < 4) return null;
  const kind = b.readUInt32LE(0);
  if (kind === EV_DATA || kind === EV_CLOSE) {
    if (b.length < EVENT.size) return null;
    const captured = b.readUInt32LE(EVENT.captured);
    if (EVENT.size + captured > b.length) return null;
    const commEnd = b.indexOf(0, EVENT.comm);
    return {
      kind,
      tgid: b.readUInt32LE(EVENT.tgid),
      tid: b.readUInt32LE(EVENT.tid),
      fd: b.readInt32LE(EVENT.fd),
      startNs: Number(b.readBigUInt64LE(EVENT.start_ns)),
      endNs: Number(b.readBigUInt64LE(EVENT.end_ns)),
      sockId: b.readBigUInt64LE(EVENT.sock_id),
      len: b.readUInt32LE(EVENT.len),
      family: b.readUInt16LE(EVENT.family),
      lport: b.readUInt16LE(EVENT.lport),
      rport: b.readUInt16LE(EVENT.rport),
      direction: b[EVENT.direction],
      flags: b[EVENT.flags],
      laddr: b.subarray(EVENT.laddr, EVENT.laddr + 16),
      raddr: b.subarray(EVENT.raddr, EVENT.raddr + 16),
      comm: b.toString('latin1', EVENT.comm, commEnd < 0 || commEnd > EVENT.comm + 16 ? EVENT.comm + 16 : commEnd),
      data: b.subarray(EVENT.size, EVENT.size + captured),
    };
  }
  if (kind === EV_HELLO && b.length >= HELLO.size) {
    return { kind, realtimeOffsetNs: b.readBigInt64LE(HELLO.realtime_offset_ns), captureBytes: b.readUInt32LE(HELLO.capture_bytes), ncpus: b.readUInt32LE(HELLO.ncpus) };
  }
  if (kind === EV_STATS && b.length >= STATS.size) {
    const counters = {} as StatsFrame['counters'];
    STAT_NAMES.forEach((name, i) => (counters[name] = Number(b.readBigUInt64LE(STATS.counters + 8 * i))));
    return { kind, counters, progRunNs: Number(b.readBigUInt64LE(STATS.prog_run_ns)), progRunCnt: Number(b.readBigUInt64LE(STATS.prog_run_cnt)) };
  }
  return null;
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

/** Splits a byte stream into length-prefixed frames; keeps a partial frame for the next chunk. */
export class FrameSplitter {
  private pending: Buffer | null = null;

  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32LE(off);
      if (buf.length - off - 4 < len) break;
      onFrame(buf.subarray(off + 4, off + 4 + len));
      off += 4 + len;
    }
    this.pending = off < buf.length ? Buffer.from(buf.subarray(off)) : null;
  }
}
