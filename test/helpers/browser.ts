// Debian's Chromium driven by playwright-core (no browser download), and a server filled
// with records through the real gRPC ingest.
import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { GrpcSender } from '../../src/agent/transport/grpc-sender.ts';
import { makeExchange } from './fixtures.ts';
import { freePort } from './nginx.ts';
import { runHeimdall, type Running } from './process.ts';
import { tempDir } from './temp-dir.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const BROWSER_SKIP = existsSync(CHROMIUM) ? false : `needs Debian's chromium at ${CHROMIUM} (scripts/setup.sh --test installs it)`;

export async function launchBrowser(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

export async function startFilledServer(records: number): Promise<{ base: string; server: Running; ids: string[] }> {
  const dataDir = tempDir('heimdall-ui-');
  const grpcPort = await freePort();
  const httpPort = await freePort();
  const server = runHeimdall(['server'], { HEIMDALL_DATA_DIR: dataDir, PORT: String(grpcPort), HTTP_PORT: String(httpPort), HEIMDALL_LISTEN_HOST: '127.0.0.1', HEIMDALL_INGEST_COALESCE_INTERVAL: '50ms' });
  await server.waitForOutput(/server started/, 60_000);
  const sender = new GrpcSender(`127.0.0.1:${grpcPort}`, 'ui-agent', 'node-a');
  const now = BigInt(Date.now()) * 1_000_000n;
  const ids: string[] = [];
  const batch = [];
  for (let i = 0; i < records; i++) {
    const status = i % 17 === 0 ? 503 : i % 11 === 0 ? 404 : 200;
    const x = makeExchange({
      // Over the last 10 minutes, denser toward now: per-minute rates always differ, so a
      // chart is never a flat line (which a browser draws with no height).
      timestampUnixNano: now - BigInt(Math.round((i * i * 600e9) / (records * records))),
      durationNs: BigInt(500_000 + (i % 40) * 250_000),
      method: i % 5 === 0 ? 'POST' : 'GET',
      status,
      host: i % 3 === 0 ? 'api.shop.local' : 'web.shop.local',
      path: i % 5 === 0 ? '/api/orders' : `/api/items/${i % 20}`,
      role: i % 2 ? 1 : 2,
      process: i % 2 ? 'cart' : 'frontend',
      srcIp: '10.1.0.1',
      dstIp: '10.1.0.2',
      dstPort: 9000,
      query: i % 7 === 0 ? 'token=REDACTED&page=2' : '',
      tls: i % 4 === 0,
      grpcStatus: i % 4 === 0 ? '14' : '',
    });
    ids.push(x.id);
    batch.push(x);
  }
  for (let i = 0; i < batch.length; i += 500) await sender.sendBatch(batch.slice(i, i + 500));
  const t = BigInt(Date.now());
  for (const [k, events] of [[60_000n, 100n], [0n, 400n]] as const) {
    await sender.reportDiagnostics({
      agentId: 'ui-agent-1', node: 'node-a', timestampUnixNano: (t - k) * 1_000_000n, startedUnixNano: (t - 300_000n) * 1_000_000n, version: '0.1.0',
      events, matched: events / 2n, unmatched: 1n, drops: k === 0n ? 3n : 0n, sendFailures: 0n, kernelDrops: 0n, queueLength: 0n, parseErrors: 0n, captureStatus: 'running',
    });
  }
  sender.close();
  return { base: `http://127.0.0.1:${httpPort}`, server, ids };
}
