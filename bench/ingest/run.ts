// Ingest throughput through gRPC into embedded ClickHouse (batch sizes 200 and 5000), then
// /api/logs latency with 1M rows stored. The server runs as its own process; its CPU time
// is read from /proc so rows per server-CPU-second is "rows/s on one core".
//   bin/heimdall-node bench/ingest/run.ts       (ROWS_SMALL=200000 SMALL_RUNS=3 ROWS_LARGE=500000 TOTAL=1000000 TIME_MODE=live)
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ExportAck, ExportRequest, HttpExchange } from '../../src/shared/proto/gen/heimdall/v1/ingest.ts';
import { makeExchange } from '../../test/helpers/fixtures.ts';
import { freePort } from '../../test/helpers/nginx.ts';
import { runHeimdall } from '../../test/helpers/process.ts';
import { exportRequestHeader } from '../../src/agent/transport/export-encoder.ts';
import { byThreadName, cpuSeconds, threadCpu } from '../proc-cpu.ts';

const ROWS_SMALL = Number(process.env.ROWS_SMALL ?? 200_000);
const ROWS_LARGE = Number(process.env.ROWS_LARGE ?? 500_000);
const TOTAL = Number(process.env.TOTAL ?? 1_000_000);
const NCPU = availableParallelism();
const SERVER_CPUS = process.env.SERVER_CPUS ?? (NCPU >= 2 ? String(NCPU - 1) : 'all');
// Rows are spread over this much time before now (the /api/logs figures read an hour of data).
const SPREAD_MS = Number(process.env.SPREAD_MS ?? 3_600_000);
// Batches in flight for the 200-row phase (one agent's AGENT_MAX_INFLIGHT_BATCHES; a fleet has more).
const SMALL_CONCURRENCY = Number(process.env.SMALL_CONCURRENCY ?? 256);
// The batch-200 phase is repeated (the host's speed varies by up to 2x within minutes): median and range.
const SMALL_RUNS = Number(process.env.SMALL_RUNS ?? 3);
// Batches in flight for the 5000-row phase; an agent keeps up to 256 (AGENT_MAX_INFLIGHT_BATCHES).
const LARGE_CONCURRENCY = Number(process.env.LARGE_CONCURRENCY ?? 8);
// Rows sent before measuring, not counted: a running server has compiled its hot paths (V8
// compiles them on worker threads in the first seconds, ~15% of a fresh server's CPU).
const WARMUP_ROWS = Number(process.env.WARMUP_ROWS ?? 50_000);

/*
 * Timestamps. A live fleet sends what it saw in the last seconds, so consecutive inserts
 * cover consecutive stretches of time ("live", the default): the rows of the whole run
 * march through the hour before the run started, each batch within BATCH_SPAN_MS of
 * its place. TIME_MODE=random spreads every batch's rows over the whole hour instead (the
 * earlier form of this benchmark): every part then overlaps every other, the worst case for
 * merges (a merge interleaves all its parts row by row) and for newest-first reads.
 */
const TIME_MODE = process.env.TIME_MODE ?? 'live';
if (TIME_MODE !== 'live' && TIME_MODE !== 'random') throw new Error(`TIME_MODE=${TIME_MODE}: expected live or random`);
const BATCH_SPAN_MS = Number(process.env.BATCH_SPAN_MS ?? 2_000);
const RUN_START_MS = Date.now();
/** Rows the whole run sends (the fill phase tops them up to TOTAL). */
const RUN_ROWS = Math.max(TOTAL, WARMUP_ROWS + SMALL_RUNS * ROWS_SMALL + ROWS_LARGE);
/** Rows sent so far in the whole run: a row's place in simulated time. */
let rowsSent = 0;

interface Template { body: Buffer; tsOffsets: number[]; jitterMs: number[] }

/** Reads a protobuf varint at b[at]: [value, next offset]. */
function varint(b: Buffer, at: number): [number, number] {
  let v = 0;
  for (let shift = 1; ; shift *= 128) {
    const x = b[at++];
    v += (x & 0x7f) * shift;
    if (x < 0x80) return [v, at];
  }
}

/** Where each record's timestamp_unix_nano (field 2, fixed64) sits in an encoded batch body. */
function timestampOffsets(body: Buffer): number[] {
  const out: number[] = [];
  let at = 0;
  while (at < body.length) {
    const [, lenAt] = varint(body, at); // field 4 (exchanges), length-delimited
    const [len, start] = varint(body, lenAt);
    const end = start + len;
    let f = start;
    while (f < end) {
      const [tag, next] = varint(body, f);
      f = next;
      if (tag === ((2 << 3) | 1)) {
        out.push(f);
        break;
      }
      const wire = tag & 7;
      if (wire === 0) f = varint(body, f)[1];
      else if (wire === 1) f += 8;
      else if (wire === 5) f += 4;
      else {
        const [n, data] = varint(body, f);
        f = data + n;
      }
    }
    at = end;
  }
  return out;
}

/** Pre-encoded exchanges (a few distinct templates) so the client costs little per batch. */
function templates(size: number, count: number): Template[] {
  const now = Date.now();
  const out: Template[] = [];
  for (let t = 0; t < count; t++) {
    const xs: HttpExchange[] = [];
    for (let i = 0; i < size; i++) {
      const n = t * size + i;
      xs.push(makeExchange({
        timestampUnixNano: BigInt(now - Math.floor(Math.random() * SPREAD_MS)) * 1_000_000n,
        status: n % 23 === 0 ? 503 : n % 7 === 0 ? 404 : 200,
        host: `svc-${n % 20}.local`,
        method: n % 4 === 0 ? 'POST' : 'GET',
      }));
    }
    const body = Buffer.from(ExportRequest.encode({ batchId: '', agentId: '', node: '', maxInFlight: 0, exchanges: xs }).finish());
    const tsOffsets = timestampOffsets(body);
    if (tsOffsets.length !== size) throw new Error(`found ${tsOffsets.length} timestamps in a ${size}-record template`);
    out.push({ body, tsOffsets, jitterMs: tsOffsets.map(() => Math.random() * BATCH_SPAN_MS) });
  }
  return out;
}

/** The next batch's body: in live mode a copy with its rows placed at their time in the run. */
function nextBody(t: Template): Buffer {
  const first = rowsSent;
  rowsSent += t.tsOffsets.length;
  if (TIME_MODE === 'random') return t.body;
  const body = Buffer.from(t.body);
  t.tsOffsets.forEach((at, j) => {
    const ms = RUN_START_MS - SPREAD_MS + ((first + j) / RUN_ROWS) * SPREAD_MS - t.jitterMs[j];
    body.writeBigUInt64LE(BigInt(Math.floor(ms * 1000)) * 1000n, at);
  });
  return body;
}

/** Batches on one ExportStream, as agents send them; each resolves on its ack (retried when shed). */
class StreamSender {
  private readonly call: grpc.ClientDuplexStream<Buffer, ExportAck>;
  private readonly waiting = new Map<string, (a: ExportAck) => void>();
  private readonly window: number;
  constructor(client: grpc.Client, window: number) {
    this.window = window;
    this.call = client.makeBidiStreamRequest('/heimdall.v1.IngestService/ExportStream', (b: Buffer) => b, (b: Buffer) => ExportAck.decode(b));
    this.call.on('data', (a: ExportAck) => this.waiting.get(a.batchId)?.(a));
    this.call.on('error', (err) => {
      console.error(`export stream failed: ${err.message}`);
      process.exit(1);
    });
  }
  async send(body: Buffer, batchId: string): Promise<void> {
    const msg = Buffer.concat([exportRequestHeader(batchId, 'bench-agent', 'bench-node', this.window), body]);
    for (;;) {
      const ack = await new Promise<ExportAck>((resolve) => {
        this.waiting.set(batchId, resolve);
        this.call.write(msg);
      });
      this.waiting.delete(batchId);
      if (ack.code === grpc.status.OK) return;
      if (ack.code !== grpc.status.RESOURCE_EXHAUSTED && ack.code !== grpc.status.UNAVAILABLE) throw new Error(`batch ${batchId}: ${ack.message}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  end(): void {
    this.call.end();
  }
}

/** Storage inserts the server has made so far (its /metrics). */
async function insertsMade(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(/^heimdall_ingest_inserts_total (\d+)/m.exec(text)?.[1] ?? NaN);
}

async function phase(client: grpc.Client, pid: number, base: string, size: number, rows: number, concurrency: number, tag: string) {
  const sender = new StreamSender(client, concurrency);
  const bodies = templates(size, 8);
  const batches = Math.ceil(rows / size);
  let next = 0;
  const i0 = await insertsMade(base);
  const c0 = cpuSeconds(pid);
  const th0 = threadCpu(pid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < batches) {
        const i = next++;
        await sender.send(nextBody(bodies[i % bodies.length]), `${tag}-${i}`);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  sender.end();
  const cpu = cpuSeconds(pid) - c0;
  const threads = byThreadName(th0, threadCpu(pid));
  const inserts = (await insertsMade(base)) - i0;
  return { rows: batches * size, secs, cpu, threads, inserts, rps: (batches * size) / secs, perCore: (batches * size) / cpu };
}

/** CPU seconds the server uses until a second passes with almost none (max 30 s). */
async function idleAfter(pid: number): Promise<number> {
  const start = cpuSeconds(pid);
  for (let i = 0; i < 30; i++) {
    const before = cpuSeconds(pid);
    await new Promise((r) => setTimeout(r, 1000));
    if (cpuSeconds(pid) - before < 0.05) break;
  }
  return cpuSeconds(pid) - start;
}

async function latency(url: string, n: number) {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const res = await fetch(url);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${url} → ${res.status}`);
    xs.push(performance.now() - t);
  }
  xs.sort((a, b) => a - b);
  const q = (p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];
  return { p50: q(0.5), p95: q(0.95), p99: q(0.99) };
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'heimdall-bench-ingest-'));
  const grpcPort = await freePort();
  const httpPort = await freePort();
  const server = runHeimdall(['server'], { ...(process.env.SERVER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.SERVER_NODE_OPTIONS } : {}), HEIMDALL_DATA_DIR: dataDir, PORT: String(grpcPort), HTTP_PORT: String(httpPort), HEIMDALL_LISTEN_HOST: '127.0.0.1', HEIMDALL_INGEST_MAX_PENDING_ROWS: '400000' });
  await server.waitForOutput(/server started/, 60_000);
  const pid = server.child.pid!;
  // "Rows/s on one core", literally: during the ingest phases the server (every thread) runs on
  // one CPU and this client on the others. SERVER_CPUS=all lets the server use every CPU.
  const confine = (cpus: string, p: number) => execFileSync('taskset', ['-a', '-cp', cpus, String(p)], { stdio: 'ignore' });
  if (SERVER_CPUS !== 'all') {
    confine(SERVER_CPUS, pid);
    const others = [...Array(NCPU).keys()].filter((c) => !SERVER_CPUS.split(',').includes(String(c)));
    if (others.length > 0) confine(others.join(','), process.pid);
  }
  const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 << 20 });

  const base = `http://127.0.0.1:${httpPort}`;
  if (WARMUP_ROWS > 0) {
    await phase(client, pid, base, 200, WARMUP_ROWS, SMALL_CONCURRENCY, 'warm');
    await idleAfter(pid); // its merges are not the measured phase's
  }
  const smalls: (Awaited<ReturnType<typeof phase>> & { sustained: number })[] = [];
  for (let i = 0; i < SMALL_RUNS; i++) {
    const r = await phase(client, pid, base, 200, ROWS_SMALL, SMALL_CONCURRENCY, `small${i}`);
    // Its merges go on after it: counted here, so the next run starts on an idle server.
    const sustained = r.rows / (r.cpu + (await idleAfter(pid)));
    smalls.push({ ...r, sustained });
    console.log(`batch 200 (${SMALL_CONCURRENCY} in flight), run ${i + 1}/${SMALL_RUNS}: ${r.rows} rows in ${r.secs.toFixed(1)} s = ${r.rps.toFixed(0)} rows/s; server CPU ${r.cpu.toFixed(1)} s = ${r.perCore.toFixed(0)} rows per CPU-second, ${sustained.toFixed(0)} counting the merges after`);
    console.log(`  server CPU by thread: ${r.threads}; ${r.inserts} inserts of ${(r.rows / r.inserts).toFixed(0)} rows on average`);
  }
  const mid = (key: (x: (typeof smalls)[number]) => number) => smalls.map(key).sort((a, b) => a - b)[Math.floor(smalls.length / 2)];
  const range = (key: (x: (typeof smalls)[number]) => number) => `${Math.min(...smalls.map(key)).toFixed(0)}–${Math.max(...smalls.map(key)).toFixed(0)}`;
  const large = await phase(client, pid, base, 5000, ROWS_LARGE, LARGE_CONCURRENCY, 'large');
  console.log(`batch 5000 (${LARGE_CONCURRENCY} in flight): ${large.rows} rows in ${large.secs.toFixed(1)} s = ${large.rps.toFixed(0)} rows/s; server CPU ${large.cpu.toFixed(1)} s = ${large.perCore.toFixed(0)} rows per CPU-second`);
  console.log(`  server CPU by thread: ${large.threads}; ${large.inserts} inserts of ${(large.rows / large.inserts).toFixed(0)} rows on average`);
  // Merges of the phase's parts go on after it: count them until the server is idle.
  const tail = await idleAfter(pid);
  const sustained = large.rows / (large.cpu + tail);
  console.log(`  with the ${tail.toFixed(1)} CPU-s of merges that followed: ${sustained.toFixed(0)} rows per CPU-second`);
  const stored = WARMUP_ROWS + SMALL_RUNS * ROWS_SMALL + large.rows;
  if (stored < TOTAL) await phase(client, pid, base, 5000, TOTAL - stored, 8, 'fill');
  client.close();
  await idleAfter(pid); // let background merges settle
  if (SERVER_CPUS !== 'all') confine(`0-${NCPU - 1}`, pid); // queries get the whole machine, as in use
  const count = ((await (await fetch(`${base}/api/stats?window=2h`)).json()) as { series: { requests: number }[] }).series.reduce((a, p) => a + p.requests, 0);
  await latency(`${base}/api/logs?limit=100`, 20); // warm
  const plain = await latency(`${base}/api/logs?limit=100`, 200);
  const filtered = await latency(`${base}/api/logs?limit=100&status=5xx&host=svc-3.local`, 100);
  const stats = await latency(`${base}/api/stats?window=1h`, 30);
  await server.stop();
  // Query latency depends on how many parts the reads open: count them in the data directory.
  const { openChdbStore } = await import('../../src/server/storage/chdb-store.ts');
  const store = await openChdbStore({ path: join(dataDir, 'clickhouse'), database: 'default' });
  await store.query(`SELECT count() FROM default.http_exchanges`); // loads the table's parts
  const parts = await store.query<{ parts: string; rows: string }>(`SELECT count() AS parts, sum(rows) AS rows FROM system.parts WHERE active AND database = 'default' AND table = 'http_exchanges'`);
  await store.close();

  const f = (x: { p50: number; p95: number; p99: number }) => `p50 ${x.p50.toFixed(1)} ms, p95 ${x.p95.toFixed(1)} ms, p99 ${x.p99.toFixed(1)} ms`;
  console.log(`\n== bench/ingest (gRPC → embedded ClickHouse, server in its own process, ${NCPU}-CPU machine) ==`);
  console.log(TIME_MODE === 'live' ? `timestamps: live (the run's rows march through the last ${SPREAD_MS / 60_000} min, each batch within ${BATCH_SPAN_MS} ms of its place; TIME_MODE=random for the worst case)` : `timestamps: random over the last ${SPREAD_MS / 60_000} min in every batch (worst case for merges and reads)`);
  console.log(SERVER_CPUS === 'all' ? 'ingest phases: the server may use every CPU' : `ingest phases: the server confined to CPU ${SERVER_CPUS} (taskset), this client to the others; queries: every CPU`);
  if (smalls.length > 0) {
    console.log(`batch 200:  median of ${smalls.length} runs ${mid((r) => r.perCore).toFixed(0)} rows per server CPU-second (${range((r) => r.perCore)}), ${mid((r) => r.sustained).toFixed(0)} counting the merges after (${range((r) => r.sustained)}); ${mid((r) => r.rps).toFixed(0)} rows/s wall   (target >= 50,000 on one core)`);
  }
  console.log(`batch 5000: ${large.rps.toFixed(0)} rows/s wall, ${large.perCore.toFixed(0)} rows per server CPU-second, ${sustained.toFixed(0)} counting the merges after   (target >= 50,000 on one core)`);
  console.log(`rows stored: ${count.toLocaleString()} (${parts[0]?.parts} active parts when the queries ran)`);
  console.log(`/api/logs?limit=100:                    ${f(plain)}   (target p95 <= 50 ms)`);
  console.log(`/api/logs?limit=100&status=5xx&host=…:  ${f(filtered)}`);
  console.log(`/api/stats?window=1h (per-minute MV):   ${f(stats)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
