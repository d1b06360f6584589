// The agent's user-space stages of this working tree against another commit's, in one process,
// alternating rounds: on a host whose speed swings by 2x, separate runs cannot show a 5%
// change; the best round of each side, interleaved, can. Also checks both produce the same bytes.
//   bin/heimdall-node bench/pipeline/ab.ts      (REF=HEAD ROUNDS=12 REQUESTS=50000 SECRET=1
//                                                RECORDING=/tmp/heimdall-replay.bin: the real pump output bench/replay records)
// REF's src/agent is taken with `git archive`; src/shared is this tree's for both.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as decode from '../../src/agent/capture/decode.ts';
import * as correlator from '../../src/agent/correlation/correlator.ts';
import * as encoder from '../../src/agent/transport/export-encoder.ts';
import { REQUEST_PLAIN, pipeChunks, pumpChunks, runPipeline, type PipelineModules } from './stream.ts';

const REF = process.env.REF ?? 'HEAD';
const ROUNDS = Number(process.env.ROUNDS ?? 12);
const REQUESTS = Number(process.env.REQUESTS ?? 50_000);
// SECRET=1: requests carry a token in the query, so every sample takes the redaction pass.
const request = process.env.SECRET ? REQUEST_PLAIN.replace('?page=2', '?page=2&token=abc') : REQUEST_PLAIN;

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'heimdall-ab-'));
try {
  execFileSync('tar', ['-x', '-C', dir], { input: execFileSync('git', ['archive', REF, 'src/agent'], { cwd: root, maxBuffer: 64 << 20 }) });
  symlinkSync(join(root, 'src/shared'), join(dir, 'src/shared'));
  const load = (path: string) => import(join(dir, path));
  const ref = { ...(await load('src/agent/capture/decode.ts')), ...(await load('src/agent/correlation/correlator.ts')), ...(await load('src/agent/transport/export-encoder.ts')) } as PipelineModules;
  const sides: [string, PipelineModules][] = [[REF, ref], ['working tree', { ...decode, ...correlator, ...encoder }]];
  const recording = process.env.RECORDING;
  // A recording's first 40 MB (~50k requests); each pass counts its requests from what paired.
  const chunks = recording ? pipeChunks(readFileSync(recording).subarray(0, 40 << 20)) : pumpChunks(REQUESTS, request);
  const best = sides.map(() => Infinity);
  const firstBatches: Buffer[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    sides.forEach(([, m], i) => {
      const x = runPipeline(m, chunks, recording ? 0 : REQUESTS);
      best[i] = Math.min(best[i], x.us);
      firstBatches[i] = x.firstBatch;
    });
  }
  const change = ((best[1] - best[0]) / best[0]) * 100;
  const what = recording ? `the first 40 MB of ${recording}` : `${REQUESTS} requests${process.env.SECRET ? ' with a secret in the query' : ''}`;
  console.log(`== bench/pipeline/ab (${what}, best of ${ROUNDS} alternating rounds) ==`);
  console.log(`${REF}: ${best[0].toFixed(2)} µs per request; working tree: ${best[1].toFixed(2)} µs (${change >= 0 ? '+' : ''}${change.toFixed(1)}%)`);
  console.log(`same bytes out (first batch, ids aside): ${firstBatches[0].equals(firstBatches[1])}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
