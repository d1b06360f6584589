// The storage contract through @clickhouse/client: against the ClickHouse server at
// HEIMDALL_TEST_CLICKHOUSE_URL (e.g. http://127.0.0.1:8123, a throw-away database is made and
// dropped) when set; otherwise over chDB's in-process connection, so the client code path
// (query text, settings, insert bodies, errors) runs in every test run.
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createChdbConnection } from 'chdb/connection';
import { openClickHouseStore, type ClickHouseConnection } from './clickhouse-store.ts';
import { storageContract } from './storage-contract.ts';
import { tempDir } from '../../../test/helpers/temp-dir.ts';

const url = process.env.HEIMDALL_TEST_CLICKHOUSE_URL;
const auth = { username: process.env.CLICKHOUSE_USER ?? 'default', password: process.env.CLICKHOUSE_PASSWORD ?? '' };

/**
 * Test stand-in for what cannot run here, a ClickHouse server's HTTP interface: chDB's
 * experimental client adapter inlines a body into the SQL text as UTF-8, which binary
 * Native bodies do not survive. This wrapper hands such a body to the same Native input
 * through a file (INSERT … FROM INFILE), as the server reads it from the request.
 */
function binaryBodies(conn: ClickHouseConnection, dir: string): ClickHouseConnection {
  let n = 0;
  const exec = conn.exec.bind(conn);
  conn.exec = async (params) => {
    const m = /^(INSERT INTO \S+ \([^)]*\))( SETTINGS .*)? FORMAT Native$/.exec(params.query);
    if (!m || params.values === undefined) return exec(params);
    const chunks: Buffer[] = [];
    for await (const c of params.values as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
    const file = join(dir, `${++n}.native`);
    writeFileSync(file, Buffer.concat(chunks));
    try {
      return await exec({ ...params, values: undefined, query: `${m[1]} FROM INFILE '${file}'${m[2] ?? ''} FORMAT Native` });
    } finally {
      rmSync(file, { force: true });
    }
  };
  return conn;
}

storageContract(
  () => {
    if (url) return openClickHouseStore({ url, database: `heimdall_test_${process.pid}`, ...auth });
    const dir = tempDir('hd-chclient-');
    const conn = createChdbConnection({ path: join(dir, 'db') }) as unknown as ClickHouseConnection;
    return openClickHouseStore({ url: 'http://chdb.invalid', database: 'heimdall_test', ...auth, connection: binaryBodies(conn, dir) });
  },
  { dropAfter: true },
);
