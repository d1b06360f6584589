// The storage contract through @clickhouse/client: against the ClickHouse server at
// HEIMDALL_TEST_CLICKHOUSE_URL (e.g. http://127.0.0.1:8123, a throw-away database is made and
// dropped) when set; otherwise over chDB's in-process connection, so the client code path
// (query parameters, insert formats, errors) runs in every test run.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChdbConnection } from 'chdb/connection';
import { openClickHouseStore, type ClickHouseConnection } from './clickhouse-store.ts';
import { storageContract } from './storage-contract.ts';

const url = process.env.HEIMDALL_TEST_CLICKHOUSE_URL;
const auth = { username: process.env.CLICKHOUSE_USER ?? 'default', password: process.env.CLICKHOUSE_PASSWORD ?? '' };

storageContract(
  () =>
    url
      ? openClickHouseStore({ url, database: `heimdall_test_${process.pid}`, ...auth })
      : openClickHouseStore({ url: 'http://chdb.invalid', database: 'heimdall_test', ...auth, connection: createChdbConnection({ path: mkdtempSync(join(tmpdir(), 'hd-chclient-')) }) as unknown as ClickHouseConnection }),
  // Over HTTP the bytes arrive as sent; chDB's experimental client adapter decodes them as UTF-8.
  { dropAfter: true, exactBinary: Boolean(url) },
);
