// Storage contract: one set of tests every Store must pass. storage.test.ts runs it on
// embedded chDB; storage-clickhouse.test.ts through @clickhouse/client (over chDB's in-process
// connection, or a ClickHouse server when HEIMDALL_TEST_CLICKHOUSE_URL is set).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeExchange } from '../../../test/helpers/fixtures.ts';
import { Ingester } from '../ingest/ingester.ts';
import { getLog, health, listLogs, serviceMap, stats } from './queries.ts';
import { encodeDiagnosticsRow } from './rows.ts';
import { SCHEMA_VERSION, migrate } from './schema.ts';
import type { Store } from './store.ts';

export function storageContract(open: () => Promise<Store>, opts: { dropAfter: boolean }): void {
let store: Store;
let ingester: Ingester;
const now = BigInt(Date.now()) * 1_000_000n;
const ids: Record<string, string> = {};

before(async () => {
  store = await open();
  await migrate(store, 7 * 86400);
  ingester = new Ingester(store, { coalesceRows: 5000, coalesceMs: 20, maxPendingRows: 100_000, dedupWindowMs: 3_600_000 });
  await ingester.start();
  const rows = [
    makeExchange({ method: 'GET', status: 200, host: 'a.local', path: '/api/users/1', timestampUnixNano: now - 5_000_000_000n, durationNs: 2_000_000n }),
    makeExchange({ method: 'POST', status: 503, host: 'a.local', path: '/api/orders', timestampUnixNano: now - 4_000_000_000n, durationNs: 90_000_000n, role: 2, process: 'curl', tls: true, grpcStatus: '14' }),
    makeExchange({ method: 'GET', status: 404, host: 'b.local', path: '/static/x.css', timestampUnixNano: now - 3_000_000_000n, node: 'node-b', namespace: 'shop', pod: 'web-1' }),
    makeExchange({ method: 'DELETE', status: 0, unmatched: true, host: 'b.local', path: '/api/users/2', timestampUnixNano: now - 2_000_000_000n }),
    makeExchange({ method: 'GET', status: 200, host: 'a.local', path: '/api/users/3', timestampUnixNano: now - 1_000_000_000n, requestSample: Buffer.from([0x00, 0xff, 0x22, 0x5c, 0x0a, 0xe9, 0x41]) }),
  ];
  await ingester.submit('contract-1', 'agent-1', rows);
  ids.first = rows[0].id;
  ids.binary = rows[4].id;
});

after(async () => {
  await ingester?.shutdown();
  if (opts.dropAfter) await store.exec(`DROP DATABASE IF EXISTS ${store.database}`);
  await store?.close();
});

test('newest first, with every filter', async () => {
  const all = await listLogs(store, {}, 100, null);
  assert.equal(all.items.length, 5);
  assert.deepEqual(all.items.map((i) => i.path), ['/api/users/3', '/api/users/2', '/static/x.css', '/api/orders', '/api/users/1']);
  const count = async (f: Parameters<typeof listLogs>[1]) => (await listLogs(store, f, 100, null)).items.length;
  assert.equal(await count({ method: 'GET' }), 3);
  assert.equal(await count({ statusExact: 404 }), 1);
  assert.equal(await count({ statusMin: 500, statusMax: 600 }), 1);
  assert.equal(await count({ host: 'b.local' }), 2);
  assert.equal(await count({ pathPrefix: '/api/users' }), 3);
  assert.equal(await count({ endpoint: '/api/users/{id}' }), 3);
  assert.equal(await count({ node: 'node-b' }), 1);
  assert.equal(await count({ namespace: 'shop', pod: 'web-1' }), 1);
  assert.equal(await count({ role: 'client' }), 1);
  assert.equal(await count({ process: 'curl' }), 1);
  assert.equal(await count({ minDurationNs: 50_000_000n }), 1);
  assert.equal(await count({ sinceNs: now - 3_500_000_000n }), 3);
  assert.equal(await count({ untilNs: now - 3_500_000_000n }), 2);
  assert.equal(await count({ unmatched: true }), 1);
  assert.equal(await count({ tls: true }), 1);
  assert.equal(await count({ tls: false }), 4);
  const [grpc] = (await listLogs(store, { tls: true }, 10, null)).items;
  assert.equal(grpc.grpc_status, '14');
  assert.equal(await count({ grpcStatus: '14' }), 1);
  assert.equal(await count({ grpcStatus: 'error' }), 1);
  assert.equal(await count({ grpcStatus: 'any' }), 1);
  assert.equal(await count({ grpcStatus: '0' }), 0);
});

test('cursor paging visits every row once', async () => {
  const seen: string[] = [];
  let cursor = null;
  for (let page = 0; page < 10; page++) {
    const r: Awaited<ReturnType<typeof listLogs>> = await listLogs(store, {}, 2, cursor);
    seen.push(...r.items.map((i) => i.id));
    if (!r.next) break;
    const { decodeCursor } = await import('./queries.ts');
    cursor = decodeCursor(r.next);
  }
  assert.equal(seen.length, 5);
  assert.equal(new Set(seen).size, 5);
});

test('a retried batch is stored once', async () => {
  const batch = [makeExchange({ host: 'dedup.local' }), makeExchange({ host: 'dedup.local' })];
  const first = await ingester.submit('contract-dedup', 'agent-1', batch);
  const again = await ingester.submit('contract-dedup', 'agent-1', batch);
  assert.deepEqual(first, { accepted: 2, duplicate: false });
  assert.deepEqual(again, { accepted: 2, duplicate: true });
  // A fresh ingester (server restart) remembers stored batch ids from the table.
  const restarted = new Ingester(store, { coalesceRows: 10, coalesceMs: 10, maxPendingRows: 1000, dedupWindowMs: 3_600_000 });
  await restarted.start();
  assert.equal((await restarted.submit('contract-dedup', 'agent-1', batch)).duplicate, true);
  await restarted.shutdown();
  assert.equal((await listLogs(store, { host: 'dedup.local' }, 100, null)).items.length, 2);
});

test('one record by id; samples keep their exact bytes', async () => {
  const one = await getLog(store, ids.binary);
  assert.ok(one);
  const bytes = [...Buffer.from(one.request_sample_base64, 'base64')];
  assert.deepEqual(bytes, [0x00, 0xff, 0x22, 0x5c, 0x0a, 0xe9, 0x41]);
  const first = await getLog(store, ids.first);
  assert.equal(first?.timestamp, first?.timestamp.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/)?.[0]);
  assert.equal(first?.duration_ms, 2);
  assert.equal(first?.src_ip, '10.0.0.1');
  assert.equal(await getLog(store, '00000000-0000-4000-8000-000000000000'), null);
});

test('stats per bucket and per endpoint from the per-minute aggregate', async () => {
  // The roll-up is fed within a second of the rows being stored.
  let s = await stats(store, { sinceNs: now - 3_600_000_000_000n, untilNs: now + 60_000_000_000n, bucketSeconds: 60 });
  let total = s.series.reduce((a, p) => a + p.requests, 0);
  for (let i = 0; i < 30 && total < 5; i++) {
    await new Promise((r) => setTimeout(r, 100));
    s = await stats(store, { sinceNs: now - 3_600_000_000_000n, untilNs: now + 60_000_000_000n, bucketSeconds: 60 });
    total = s.series.reduce((a, p) => a + p.requests, 0);
  }
  assert.ok(total >= 5, `requests ${total}`);
  assert.ok(s.series.some((p) => p.p95_ms > 0));
  const orders = s.endpoints.find((e) => e.endpoint === '/api/orders');
  assert.ok(orders && orders.errors === 1 && orders.error_rate === 1 && orders.p99_ms >= 80);
  const users = s.endpoints.find((e) => e.endpoint === '/api/users/{id}' && e.method === 'GET');
  assert.ok(users && users.requests === 2);
  // A finished bucket's rate is over the whole bucket; the one in progress, over its seconds so far.
  const after = Date.now() / 1000;
  for (const p of s.series) {
    const start = Date.parse(p.time) / 1000;
    const elapsed = Math.max(1, Math.min(60, after - start));
    assert.ok(p.rate >= p.requests / 60 - 1e-9 && p.rate <= p.requests / Math.max(1, elapsed - 5) + 1e-9, JSON.stringify(p));
    if (after - start >= 65) assert.equal(p.rate, p.requests / 60);
    if (after - start < 55 && p.requests > 0) assert.ok(p.rate > p.requests / 60, `bucket in progress: ${JSON.stringify(p)}`);
  }
});

test('the per-minute view is fed less often than inserts are made, and counts every row once', async () => {
  const busy = new Ingester(store, { coalesceRows: 1000, coalesceMs: 10, maxPendingRows: 100_000, dedupWindowMs: 3_600_000 });
  await busy.start();
  const batches = Array.from({ length: 40 }, (_, i) => Array.from({ length: 50 }, () => makeExchange({ host: 'rollup.local', timestampUnixNano: now - BigInt(i) * 1_000_000n })));
  await Promise.all(batches.map((b, i) => busy.submit(`contract-rollup-${i}`, 'agent-1', b)));
  // Fed within a second of being stored.
  let fed = 0;
  for (let i = 0; i < 30 && fed < 2000; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const [row] = await store.query<{ n: string }>(`SELECT sum(requests) AS n FROM ${store.database}.http_red_1m WHERE host = 'rollup.local'`);
    fed = Number(row.n);
  }
  assert.equal(fed, 2000);
  assert.ok(busy.metrics.inserts > 1 && busy.metrics.feedInserts < busy.metrics.inserts, JSON.stringify(busy.metrics));
  await busy.shutdown();
});

test('failed gRPC calls (HTTP 200) count as errors by their grpc-status, in the roll-up and the map', async () => {
  const g = new Ingester(store, { coalesceRows: 1000, coalesceMs: 10, maxPendingRows: 100_000, dedupWindowMs: 3_600_000 });
  await g.start();
  const call = (grpcStatus: string, status = 200) => makeExchange({ host: 'grpc.local', path: '/pkg.Svc/Call', method: 'POST', status, grpcStatus, timestampUnixNano: now - 500_000_000n });
  await g.submit('contract-grpc-1', 'agent-1', [call('0'), call('0'), call('14'), call('3'), call(''), call('', 503)]);
  let row: { requests: string; errors: string; client_errors: string } | undefined;
  for (let i = 0; i < 30 && Number(row?.requests ?? 0) < 6; i++) {
    await new Promise((r) => setTimeout(r, 100));
    [row] = await store.query<{ requests: string; errors: string; client_errors: string }>(
      `SELECT sum(requests) AS requests, sum(errors) AS errors, sum(client_errors) AS client_errors FROM ${store.database}.http_red_1m WHERE host = 'grpc.local'`,
    );
  }
  assert.deepEqual([row?.requests, row?.errors, row?.client_errors].map(Number), [6, 2, 1], 'UNAVAILABLE and a 503 are errors, INVALID_ARGUMENT the caller\'s');
  await g.shutdown();
});

test('a batch waits up to the coalesce interval for others; a sender with all its window waiting gets them stored at once', async () => {
  const lazy = new Ingester(store, { coalesceRows: 1000, coalesceMs: 60_000, maxPendingRows: 100_000, dedupWindowMs: 3_600_000 });
  await lazy.start();
  let firstStored = false;
  const first = lazy.submit('contract-wait-1', 'agent-1', [makeExchange({ host: 'wait.local' })]).then(() => (firstStored = true));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(firstStored, false, 'stored before the interval with no reason to hurry');
  await lazy.submit('contract-wait-2', 'agent-1', [makeExchange({ host: 'wait.local' })], 1);
  await first;
  assert.equal(lazy.metrics.inserts, 1, 'both batches in one insert');
  assert.equal((await listLogs(store, { host: 'wait.local' }, 10, null)).items.length, 2);
  await lazy.shutdown();
});

test('service map joins client and server records', async () => {
  await ingester.submit('contract-map', 'agent-1', [
    makeExchange({ role: 2, process: 'frontend', srcIp: '10.1.0.1', srcPort: 5000, dstIp: '10.1.0.2', dstPort: 9000, host: 'cart' }),
    makeExchange({ role: 1, process: 'cart', srcIp: '10.1.0.1', srcPort: 5000, dstIp: '10.1.0.2', dstPort: 9000, host: 'cart' }),
    makeExchange({ role: 1, process: 'cart', srcIp: '10.9.9.9', srcPort: 5001, dstIp: '10.1.0.2', dstPort: 9000, host: 'cart', status: 500 }),
  ]);
  const m = await serviceMap(store, now - 3_600_000_000_000n, now + 60_000_000_000n);
  const edge = m.edges.find((e) => e.source === 'frontend' && e.target === 'cart');
  assert.ok(edge, JSON.stringify(m.edges));
  assert.equal(edge.requests, 1);
  const ext = m.edges.find((e) => e.source === '10.9.9.9' && e.target === 'cart');
  assert.ok(ext && ext.errors === 1);
});

test('diagnostics are stored and summarised per agent', async () => {
  const mk = (t: number, events: number) => encodeDiagnosticsRow({ agentId: 'agent-x', node: 'node-a', timestampUnixNano: BigInt(t) * 1_000_000n, startedUnixNano: BigInt(t - 60_000) * 1_000_000n, version: '0.1.0', events: BigInt(events), matched: 1n, unmatched: 0n, drops: 0n, sendFailures: 0n, kernelDrops: 0n, queueLength: 0n, parseErrors: 0n, captureStatus: 'running' });
  const t = Date.now();
  await store.insertJsonLines(`${store.database}.agent_diagnostics`, Buffer.concat([mk(t - 60_000, 10), mk(t, 25)]));
  const h = await health(store, BigInt(t - 3_600_000) * 1_000_000n, 15);
  const a = h.agents.find((x) => x.agent_id === 'agent-x');
  assert.ok(a);
  assert.equal(a.totals.events, 25);
  assert.equal(a.series.at(-1)?.events, 15);
  // Started inside the window: its first report's counts are all in the window (losses in an
  // agent's first minute must not go unseen).
  assert.equal(a.series[0].events, 10);
  assert.equal(a.capture_status, 'running');
  const late = await health(store, BigInt(t - 90_000) * 1_000_000n, 15);
  assert.equal(late.agents.find((x) => x.agent_id === 'agent-x')?.series[0].events, 0, 'started before the window: its earlier counts are not the window\'s');
});

test('retention is a TTL on every table, changed without rewriting parts', async () => {
  const ttl = async () => (await store.query<{ engine_full: string }>(`SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = 'http_exchanges'`, { db: store.database }))[0].engine_full;
  assert.match(await ttl(), /TTL toDateTime\(ts\) \+ toIntervalSecond\(604800\)/);
  await migrate(store, 2 * 86400);
  assert.match(await ttl(), /toIntervalSecond\(172800\)/);
  const migrations = await store.query<{ c: string }>(`SELECT count() AS c FROM ${store.database}.heimdall_migrations`);
  assert.equal(Number(migrations[0].c), SCHEMA_VERSION, 'each migration ran once');
  const known = await store.query<{ c: string }>(`SELECT count() AS c FROM system.merge_tree_settings WHERE name = 'merge_selector_base'`);
  if (Number(known[0].c) > 0) assert.match(await ttl(), /merge_selector_base = 7/, 'merge tuning applied where the server knows it');
});

test('text columns are LZ4, numbers Delta/T64 + ZSTD (cheaper inserts and merges)', async () => {
  const codecs = new Map((await store.query<{ name: string; compression_codec: string }>(
    `SELECT name, compression_codec FROM system.columns WHERE database = {db:String} AND table = 'http_exchanges'`, { db: store.database })).map((c) => [c.name, c.compression_codec]));
  for (const c of ['batch_id', 'labels', 'path', 'query', 'traceparent', 'request_sample', 'response_sample']) assert.equal(codecs.get(c), 'CODEC(LZ4)', c);
  assert.match(codecs.get('ts') ?? '', /Delta.*ZSTD\(1\)/);
  assert.match(codecs.get('duration_ns') ?? '', /T64, ZSTD\(1\)/);
});

test('a malformed record is refused whole, with its index and field', async () => {
  const bad = [makeExchange(), makeExchange({ status: 70000 })];
  await assert.rejects(ingester.submit('contract-bad', 'agent-1', bad), /exchanges\[1\]\.status: 70000 is out of range 0-999; nothing of batch contract-bad was stored/);
});
}
