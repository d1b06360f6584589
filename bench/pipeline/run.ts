// The agent's user-space cost per HTTP exchange, without kernel or network: real pump
// records (both sides of keep-alive connections, as nginx and wrk produce them) through
// decode → correlation → enrichment-free record building → protobuf batch encoding.
//   bin/heimdall-node bench/pipeline/run.ts     (REQUESTS=300000)
import { decodeFrame, FrameSplitter, type DataEvent } from '../../src/agent/capture/decode.ts';
import { Correlator } from '../../src/agent/correlation/correlator.ts';
import { dataRecord } from '../../test/helpers/records.ts';
import type { HttpExchange } from '../../src/shared/proto/gen/heimdall/v1/ingest.ts';
import { encodeExportRequest } from '../../src/agent/transport/export-encoder.ts';

const REQUESTS = Number(process.env.REQUESTS ?? 100_000);
const CONNS = 16;
const REQ = Buffer.from('GET /api/items/42?page=2 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk/4.1\r\nAccept: */*\r\n\r\n');
const RES = Buffer.from('HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Fri, 27 Nov 2026 01:35:45 GMT\r\nContent-Type: application/json\r\nContent-Length: 17\r\nConnection: keep-alive\r\n\r\n{"items":[1,2,3]}');

/** A record as the pipe carries it: u32 length, then the record. */
function frame(tgid: number, sock: number, dir: number, payload: Buffer, t: number): Buffer {
  const server = tgid === 1;
  const rec = dataRecord({ tgid, fd: sock, sock: BigInt(sock * 4096 + tgid), direction: dir, startNs: t, endNs: t + 2000, len: payload.length, payload, lport: server ? 8080 : 40000 + sock, rport: server ? 40000 + sock : 8080, comm: server ? 'nginx' : 'wrk' });
  const len = Buffer.alloc(4);
  len.writeUInt32LE(rec.length);
  return Buffer.concat([len, rec]);
}

// The pipe delivers records in 64 KiB chunks; build the whole stream first.
const frames: Buffer[] = [];
let t = 1e12;
for (let i = 0; i < REQUESTS; i++) {
  const c = i % CONNS;
  frames.push(frame(2, c, 1, REQ, (t += 5000)), frame(1, c, 0, REQ, (t += 5000)), frame(1, c, 1, RES, (t += 5000)), frame(2, c, 0, RES, (t += 5000)));
}
const stream = Buffer.concat(frames);
const chunks: Buffer[] = [];
for (let o = 0; o < stream.length; o += 65536) chunks.push(stream.subarray(o, o + 65536));

const ROUNDS = Number(process.env.ROUNDS ?? 5);

/** One pass over the stream with a fresh pipeline; returns CPU µs per request. */
function round(): { us: number; exchanges: number; bytes: number } {
  let batch: HttpExchange[] = [];
  let encodedBytes = 0;
  const correlator = new Correlator({ ttlMs: 30_000, sampleBytes: 128, maxConnections: 16384, toWallNs: (m) => 1_700_000_000_000_000_000n + BigInt(m) }, (x) => {
    x.node = 'bench';
    batch.push(x);
    if (batch.length === 200) {
      encodedBytes += encodeExportRequest({ batchId: 'b', agentId: 'a', node: 'n', maxInFlight: 0, exchanges: batch }).length; // what the sender does
      batch = [];
    }
  });
  const splitter = new FrameSplitter();
  const onFrame = (b: Buffer, start: number, end: number) => correlator.onData(decodeFrame(b, start, end) as DataEvent);
  const cpu0 = process.cpuUsage();
  for (const ch of chunks) splitter.push(ch, onFrame);
  const cpu = process.cpuUsage(cpu0);
  return { us: (cpu.user + cpu.system) / REQUESTS, exchanges: correlator.stats.matched, bytes: encodedBytes };
}

// This machine's CPU speed varies run to run (shared host): report the best and the median of several rounds.
const results = Array.from({ length: ROUNDS }, round);
const us = results.map((r) => r.us).sort((a, b) => a - b);
const best = us[0];
const median = us[Math.floor(us.length / 2)];
console.log('== bench/pipeline (user space only: decode, correlate, build records, encode protobuf) ==');
console.log(`${REQUESTS} requests × ${ROUNDS} rounds, ${REQUESTS * 4} events and ${results[0].exchanges} exchanges (both sides) per round, ${(results[0].bytes / results[0].exchanges).toFixed(0)} B/exchange on the wire`);
console.log(`CPU per request: best ${best.toFixed(2)} µs, median ${median.toFixed(2)} µs (rounds: ${us.map((x) => x.toFixed(1)).join(', ')})`);
console.log(`=> ${best.toFixed(1)}–${median.toFixed(1)}% of one core per 10k req/s for this stage (target for the whole agent: <= 10%)`);
