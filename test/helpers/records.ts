// Pump records (src/kernel/http_capture.h layout) as the native pump writes them, for tests
// and benchmarks that drive the agent's stages without the kernel.
import { EVENT } from '../../src/agent/capture/event-layout.ts';

export interface RecordSpec {
  tgid: number;
  fd: number;
  sock: bigint;
  direction: number;
  startNs: number;
  endNs: number;
  /** Bytes the syscall moved; the payload is what was captured of them. */
  len: number;
  payload: Buffer;
  lport: number;
  rport: number;
  comm: string;
  flags?: number;
}

/** One DATA record over 127.0.0.1 (without the pipe's length prefix). */
export function dataRecord(r: RecordSpec): Buffer {
  const raw = Buffer.alloc(EVENT.size + r.payload.length);
  raw.writeUInt32LE(1, EVENT.kind);
  raw.writeUInt32LE(r.tgid, EVENT.tgid);
  raw.writeInt32LE(r.fd, EVENT.fd);
  raw.writeBigUInt64LE(BigInt(r.startNs), EVENT.start_ns);
  raw.writeBigUInt64LE(BigInt(r.endNs), EVENT.end_ns);
  raw.writeBigUInt64LE(0xffff888000000000n + r.sock, EVENT.sock_id);
  raw.writeUInt32LE(r.len, EVENT.len);
  raw.writeUInt32LE(r.payload.length, EVENT.captured);
  raw.writeUInt16LE(2, EVENT.family);
  raw.writeUInt16LE(r.lport, EVENT.lport);
  raw.writeUInt16LE(r.rport, EVENT.rport);
  raw[EVENT.direction] = r.direction;
  raw[EVENT.flags] = r.flags ?? 0;
  raw.set([127, 0, 0, 1], EVENT.laddr);
  raw.set([127, 0, 0, 1], EVENT.raddr);
  raw.write(r.comm, EVENT.comm, 'latin1');
  r.payload.copy(raw, EVENT.size);
  return raw;
}

/** The connection (tgid, socket address) of a record built here, as the correlator keys it. */
export function connKey(tgid: number, sock: bigint): { tgid: number; sockHi: number; sockLo: number } {
  const id = 0xffff888000000000n + sock;
  return { tgid, sockHi: Number(id >> 32n), sockLo: Number(id & 0xffffffffn) };
}
