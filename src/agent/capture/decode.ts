// Raw pump frames → typed events. Reads fields in place; only the payload slice is kept.
import { AF_INET, EVENT, EV_CLOSE, EV_DATA, EV_HELLO, EV_STATS, HELLO, STATS, STAT_NAMES } from './event-layout.ts';

export interface DataEvent {
  kind: typeof EV_DATA | typeof EV_CLOSE;
  tgid: number;
  fd: number;
  startNs: number;
  endNs: number;
  /** tgid + kernel sock address: one connection as one process sees it. */
  connKey: string;
  len: number;
  direction: number;
  /** hd_event.flags (F_TLS: plaintext from SSL_read/SSL_write). */
  flags: number;
  data: Uint8Array;
  /** The whole record: fields needed once per connection are read from it on demand. */
  raw: Buffer;
}

export function eventComm(ev: DataEvent): string {
  const b = ev.raw;
  const end = b.indexOf(0, EVENT.comm);
  return b.toString('latin1', EVENT.comm, end < 0 || end > EVENT.comm + 16 ? EVENT.comm + 16 : end);
}

export function eventAddrs(ev: DataEvent): { family: number; laddr: string; lport: number; raddr: string; rport: number } {
  const b = ev.raw;
  const family = b.readUInt16LE(EVENT.family);
  return {
    family,
    laddr: formatIp(family, b.subarray(EVENT.laddr, EVENT.laddr + 16)),
    lport: b.readUInt16LE(EVENT.lport),
    raddr: formatIp(family, b.subarray(EVENT.raddr, EVENT.raddr + 16)),
    rport: b.readUInt16LE(EVENT.rport),
  };
}

const u64 = (b: Buffer, at: number) => b.readUInt32LE(at + 4) * 4294967296 + b.readUInt32LE(at);

export interface HelloFrame { kind: typeof EV_HELLO; realtimeOffsetNs: bigint; captureBytes: number; ncpus: number }
export interface StatsFrame { kind: typeof EV_STATS; counters: Record<(typeof STAT_NAMES)[number], number>; progRunNs: number; progRunCnt: number; realtimeOffsetNs: bigint }
export type Frame = DataEvent | HelloFrame | StatsFrame;

export function decodeFrame(b: Buffer): Frame | null {
  if (b.length < 4) return null;
  const kind = b.readUInt32LE(0);
  if (kind === EV_DATA || kind === EV_CLOSE) {
    if (b.length < EVENT.size) return null;
    const captured = b.readUInt32LE(EVENT.captured);
    if (EVENT.size + captured > b.length) return null;
    const tgid = b.readUInt32LE(EVENT.tgid);
    return {
      kind,
      tgid,
      fd: b.readInt32LE(EVENT.fd),
      startNs: u64(b, EVENT.start_ns),
      endNs: u64(b, EVENT.end_ns),
      connKey: `${tgid}:${b.readUInt32LE(EVENT.sock_id + 4)}:${b.readUInt32LE(EVENT.sock_id)}`,
      len: b.readUInt32LE(EVENT.len),
      direction: b[EVENT.direction],
      flags: b[EVENT.flags],
      data: b.subarray(EVENT.size, EVENT.size + captured),
      raw: b,
    };
  }
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
