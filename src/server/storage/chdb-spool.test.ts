// Embedded inserts pass through spool files: none keeps data after its insert, files are
// reused rather than made per insert, and the folders a crashed server left behind are
// cleared at the next start (but never a running one's).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExportRequest } from '../../shared/proto/gen/heimdall/v1/ingest.ts';
import { makeExchange } from '../../../test/helpers/fixtures.ts';
import { nativeBlock, transcodeExport } from '../ingest/transcode.ts';
import { openChdbStore } from './chdb-store.ts';
import { EXCHANGE_COLUMNS } from './rows.ts';
import { migrate } from './schema.ts';
import { tempDir } from '../../../test/helpers/temp-dir.ts';

test('spool files are emptied after their insert and reused', async () => {
  const path = tempDir('hd-spool-');
  const root = join(path, 'heimdall-spool');
  mkdirSync(join(root, '999999999'), { recursive: true }); // no such process: a crash's left-over
  writeFileSync(join(root, '999999999', '7.native'), 'x');
  mkdirSync(join(root, '1')); // pid 1 is alive: another server's folder stays
  const store = await openChdbStore({ path, database: 'default' });
  try {
    assert.deepEqual(readdirSync(root).sort(), ['1', String(process.pid)]);
    await migrate(store, 86400);
    const t = transcodeExport(Buffer.from(ExportRequest.encode({ batchId: 'b', agentId: 'a', node: 'n', maxInFlight: 0, exchanges: [makeExchange(), makeExchange()] }).finish()), BigInt(Date.now()) * 1_000_000n);
    assert.ok(t.ok);
    const insert = () => store.insertNative('default.http_exchanges', nativeBlock([t.value.columns]), EXCHANGE_COLUMNS);
    await Promise.all([insert(), insert(), insert()]);
    const own = join(root, String(process.pid));
    const files = readdirSync(own);
    assert.ok(files.length >= 1 && files.length <= 3, `one file per concurrent insert, got ${files.length}`);
    for (const f of files) assert.equal(statSync(join(own, f)).size, 0, `${f} emptied after its insert`);
    for (let i = 0; i < 5; i++) await insert();
    assert.deepEqual(readdirSync(own).sort(), files.sort(), 'sequential inserts reuse the files');
    const [{ c }] = await store.query<{ c: string }>('SELECT count() AS c FROM default.http_exchanges');
    assert.equal(Number(c), 16);
  } finally {
    await store.close();
  }
  assert.ok(!existsSync(join(root, String(process.pid))));
});
