// The server's CPU at a steady, ordinary load (what bench/ingest, sending flat out, does not
// show): one sender at a fixed rate in agent-sized batches on ExportStream, with the window
// an agent declares; prints the server's CPU (from /proc) per interval and on average.
//   bin/heimdall-node bench/ingest/steady.ts     (RATE=10000 rows/s, BATCH=200, SECS=120, WINDOW=256)
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ExportAck, ExportRequest } from '../../src/shared/proto/gen/heimdall/v1/ingest.ts';
import { makeExchange } from '../../test/helpers/fixtures.ts';
import { freePort } from '../../test/helpers/nginx.ts';
import { runHeimdall } from '../../test/helpers/process.ts';
import { exportRequestHeader } from '../../src/agent/transport/export-encoder.ts';
import { procCpu } from '../proc-cpu.ts';

const RATE = Number(process.env.RATE ?? 10_000);
const BATCH = Number(process.env.BATCH ?? 200);
const SECS = Number(process.env.SECS ?? 120);
const WINDOW = Number(process.env.WINDOW ?? 256);
const STEP_S = 15;
const cpu = (pid: number): [number, number] => {
  const c = procCpu(pid);
  return [c.user, c.system];
};

async function main() {
  const httpPort = await freePort();
  const grpcPort = await freePort();
  const server = runHeimdall(['server'], { HEIMDALL_DATA_DIR: mkdtempSync(join(tmpdir(), 'heimdall-bench-steady-')), PORT: String(grpcPort), HTTP_PORT: String(httpPort), HEIMDALL_LISTEN_HOST: '127.0.0.1' });
  await server.waitForOutput(/server started/, 60_000);
  const pid = server.child.pid!;
  const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
  const call = client.makeBidiStreamRequest('/heimdall.v1.IngestService/ExportStream', (b: Buffer) => b, (b: Buffer) => ExportAck.decode(b));
  let acked = 0;
  let inFlight = 0;
  call.on('data', () => {
    acked++;
    inFlight--;
  });
  const body = Buffer.from(ExportRequest.encode({ batchId: '', agentId: '', node: '', maxInFlight: 0, exchanges: Array.from({ length: BATCH }, (_, i) => makeExchange({ host: `svc-${i % 20}.local` })) }).finish());
  let sent = 0;
  let behind = 0;
  const t0 = Date.now();
  // Batches leave on schedule, as an agent's do at a steady rate; a full window waits.
  const pace = setInterval(() => {
    const due = Math.floor((((Date.now() - t0) / 1000) * RATE) / BATCH);
    while (sent < due && inFlight < WINDOW) {
      call.write(Buffer.concat([exportRequestHeader(`steady-${sent}`, 'bench-steady', 'bench-node', WINDOW), body]));
      sent++;
      inFlight++;
    }
    behind = Math.max(behind, due - sent);
  }, 5);
  console.log(`steady ingest: ${RATE} rows/s in batches of ${BATCH}, window ${WINDOW}, ${SECS} s`);
  const shares: number[] = [];
  let [u0, s0] = cpu(pid);
  let a0 = 0;
  for (let t = STEP_S; t <= SECS; t += STEP_S) {
    await new Promise((r) => setTimeout(r, STEP_S * 1000));
    const [u, s] = cpu(pid);
    const share = (u - u0 + s - s0) / STEP_S;
    shares.push(share);
    console.log(`  t=${t}s stored ${(((acked - a0) * BATCH) / STEP_S).toFixed(0)} rows/s; server CPU ${(share * 100).toFixed(1)}% of a core (user ${(((u - u0) / STEP_S) * 100).toFixed(1)}%, system ${(((s - s0) / STEP_S) * 100).toFixed(1)}%)`);
    [u0, s0, a0] = [u, s, acked];
  }
  clearInterval(pace);
  call.end();
  client.close();
  await server.stop();
  const mean = shares.reduce((a, x) => a + x, 0) / shares.length;
  console.log(`server CPU at ${RATE} rows/s: ${(mean * 100).toFixed(1)}% of a core on average (${(Math.min(...shares) * 100).toFixed(0)}–${(Math.max(...shares) * 100).toFixed(0)}% per ${STEP_S} s); at most ${behind} batches behind schedule`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
