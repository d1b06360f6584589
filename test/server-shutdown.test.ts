// SIGTERM while batches are being ingested: intake stops, in-flight inserts finish, and
// every batch that was acknowledged is in the database after the process is gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GrpcSender } from '../src/agent/transport/grpc-sender.ts';
import { openChdbStore } from '../src/server/storage/chdb-store.ts';
import { makeExchange } from './helpers/fixtures.ts';
import { runHeimdall } from './helpers/process.ts';
import { tempDir } from './helpers/temp-dir.ts';

test('shutdown with inserts in flight loses nothing that was acknowledged', async () => {
  const dataDir = tempDir('heimdall-shutdown-');
  const srv = runHeimdall(['server'], { HEIMDALL_DATA_DIR: dataDir, PORT: '0', HTTP_PORT: '0', HEIMDALL_LISTEN_HOST: '127.0.0.1', HEIMDALL_INGEST_COALESCE_INTERVAL: '300ms', HTTP_SHUTDOWN_TIMEOUT: '5s' });
  const m = await srv.waitForOutput(/server started .*grpc=(\d+)/, 30_000);
  const sender = new GrpcSender(`127.0.0.1:${m[1]}`, 'agent-shutdown', 'n1');
  let acked = 0;
  const sends = Array.from({ length: 20 }, () =>
    sender.sendBatch(Array.from({ length: 50 }, () => makeExchange({ host: 'shutdown.local' }))).then(() => (acked += 50), () => undefined),
  );
  await new Promise((r) => setTimeout(r, 100));
  sender.stopRetrying();
  const t0 = Date.now();
  const code = await srv.stop('SIGTERM');
  const took = Date.now() - t0;
  await Promise.all(sends);
  sender.close();
  assert.equal(code, 0, srv.output());
  assert.ok(took < 6000, `shutdown took ${took} ms`);
  const store = await openChdbStore({ path: join(dataDir, 'clickhouse'), database: 'default' });
  const rows = await store.query<{ c: string }>(`SELECT count() AS c FROM default.http_exchanges WHERE host = 'shutdown.local'`);
  await store.close();
  assert.ok(acked > 0, 'some batches were acknowledged before shutdown');
  assert.ok(Number(rows[0].c) >= acked, `stored ${rows[0].c} < acknowledged ${acked}`);
});

test('a bad setting stops start-up with the variable, value and what is expected', async () => {
  const srv = runHeimdall(['server'], { HTTP_SHUTDOWN_TIMEOUT: 'five', HEIMDALL_DATA_DIR: tempDir('heimdall-bad-') });
  const code = await srv.stop('SIGCONT');
  assert.equal(code, 2);
  assert.match(srv.output(), /HTTP_SHUTDOWN_TIMEOUT="five" is invalid: expected a duration like 500ms, 2s, 1m30s/);
  const agent = runHeimdall(['agent'], { SERVER_ADDR: '' });
  assert.equal(await agent.stop('SIGCONT'), 2);
  assert.match(agent.output(), /SERVER_ADDR is required/);
});

test('a data directory that cannot be made stops start-up saying so, even where mkdir -p would spin', { timeout: 30_000 }, async () => {
  const file = join(tempDir('heimdall-bad-'), 'a-file');
  writeFileSync(file, '');
  // Under /proc a parent exists but refuses children: Node's recursive mkdir loops there forever.
  for (const dir of [join(file, 'data'), '/proc/heimdall-nope']) {
    const srv = runHeimdall(['server'], { HEIMDALL_DATA_DIR: dir });
    assert.notEqual(await srv.stop('SIGCONT'), 0);
    assert.match(srv.output(), new RegExp(`cannot create the data directory ${dir}/clickhouse: .*; set HEIMDALL_DATA_DIR to a writable folder`));
  }
});

test('CLI help and version', async () => {
  const v = runHeimdall(['--version'], {});
  assert.equal(await v.stop('SIGCONT'), 0);
  assert.match(v.output(), /^heimdall \d+\.\d+\.\d+/);
  for (const cmd of ['up', 'server', 'agent']) {
    const h = runHeimdall([cmd, '--help'], {});
    assert.equal(await h.stop('SIGCONT'), 0);
    assert.match(h.output(), new RegExp(`heimdall ${cmd}`));
  }
  const bad = runHeimdall(['frobnicate'], {});
  assert.equal(await bad.stop('SIGCONT'), 2);
});
