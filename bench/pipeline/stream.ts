// What bench/pipeline feeds the agent's stages: the pump's byte stream for keep-alive
// connections with both sides captured (as nginx and wrk produce it), and one pass of it
// through a given set of the agent's modules (this tree's, or another commit's in ab.ts).
import type { DataEvent, FrameSplitter } from '../../src/agent/capture/decode.ts';
import type { Correlator } from '../../src/agent/correlation/correlator.ts';
import { dataRecord } from '../../test/helpers/records.ts';

const CONNS = 16;
const RES = Buffer.from('HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Fri, 27 Nov 2026 01:35:45 GMT\r\nContent-Type: application/json\r\nContent-Length: 17\r\nConnection: keep-alive\r\n\r\n{"items":[1,2,3]}');
export const REQUEST_PLAIN = 'GET /api/items/42?page=2 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk/4.1\r\nAccept: */*\r\n\r\n';

/** A record as the pipe carries it: u32 length, then the record. */
function frame(tgid: number, sock: number, dir: number, payload: Buffer, t: number): Buffer {
  const server = tgid === 1;
  const rec = dataRecord({ tgid, fd: sock, sock: BigInt(sock * 4096 + tgid), direction: dir, startNs: t, endNs: t + 2000, len: payload.length, payload, lport: server ? 8080 : 40000 + sock, rport: server ? 40000 + sock : 8080, comm: server ? 'nginx' : 'wrk' });
  const len = Buffer.alloc(4);
  len.writeUInt32LE(rec.length);
  return Buffer.concat([len, rec]);
}

/** The stream of `requests` exchanges (4 records each), in the pipe's 64 KiB chunks. */
export function pumpChunks(requests: number, request = REQUEST_PLAIN): Buffer[] {
  const req = Buffer.from(request, 'latin1');
  const frames: Buffer[] = [];
  let t = 1e12;
  for (let i = 0; i < requests; i++) {
    const c = i % CONNS;
    frames.push(frame(2, c, 1, req, (t += 5000)), frame(1, c, 0, req, (t += 5000)), frame(1, c, 1, RES, (t += 5000)), frame(2, c, 0, RES, (t += 5000)));
  }
  return pipeChunks(Buffer.concat(frames));
}

/** A byte stream as the agent reads it from the pump's pipe: 64 KiB chunks. */
export function pipeChunks(stream: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let o = 0; o < stream.length; o += 65536) chunks.push(stream.subarray(o, o + 65536));
  return chunks;
}

/** What a pass feeds records to: the agent's ExchangeEntries (each tree with its own record type). */
interface Entries {
  add(x: unknown): void;
  request(batchId: string, agentId: string, node: string): Buffer;
  release(): void;
}

/** The agent modules a pass runs through. */
export interface PipelineModules {
  decodeFrame: (b: Buffer, at?: number, end?: number) => unknown;
  FrameSplitter: new () => FrameSplitter;
  Correlator: new (opts: never, out: (x: { node: string; id: string }) => void) => Correlator;
  ExchangeEntries: new (expected: number) => Entries;
}

/** Options for the correlators of this tree and of earlier commits (which took toWallNs). */
const OPTIONS = { ttlMs: 30_000, sampleBytes: 128, maxConnections: 16384, wallOffsetNs: 1_700_000_000_000_000_000n, toWallNs: (x: number) => 1_700_000_000_000_000_000n + BigInt(x) };

/**
 * One pass with a fresh pipeline, records encoded as they come, as the batcher does: CPU µs per
 * request, and the first batch encoded again with ids blanked (ids are random), for comparing
 * what two trees produce. requests: how many the chunks hold; 0 for a recording, whose requests
 * are counted as half the exchanges paired (both sides are in it).
 */
export function runPipeline(m: PipelineModules, chunks: Buffer[], requests: number): { us: number; exchanges: number; bytes: number; firstBatch: Buffer } {
  let entries = new m.ExchangeEntries(200);
  let n = 0;
  const first: { node: string; id: string }[] = [];
  let bytes = 0;
  const correlator = new m.Correlator(OPTIONS as never, (x) => {
    x.node = 'bench';
    if (first.length < 200) first.push(x);
    entries.add(x);
    if (++n === 200) {
      bytes += entries.request('b', 'a', 'n').length; // what the sender does
      entries.release();
      entries = new m.ExchangeEntries(200);
      n = 0;
    }
  });
  const splitter = new m.FrameSplitter();
  // A recording also holds the pump's hello and stats frames, and closes.
  const onFrame = (b: Buffer, start: number, end: number) => {
    const ev = m.decodeFrame(b, start, end) as DataEvent | null;
    if (ev?.kind === 1) correlator.onData(ev);
    else if (ev?.kind === 2) correlator.onClose(ev, ev.endNs);
  };
  const cpu0 = process.cpuUsage();
  for (const ch of chunks) splitter.push(ch, onFrame);
  const cpu = process.cpuUsage(cpu0);
  const again = new m.ExchangeEntries(200);
  for (const x of first) again.add({ ...x, id: '', idPrefix: null }); // earlier trees have no idPrefix
  const firstBatch = Buffer.from(again.request('b', 'a', 'n'));
  return { us: (cpu.user + cpu.system) / (requests || correlator.stats.matched / 2), exchanges: correlator.stats.matched, bytes, firstBatch };
}
