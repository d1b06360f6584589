// A ClickHouse server over its HTTP interface. The client has no retries built in: the
// ingest path retries through the agent (UNAVAILABLE), queries fail fast with a clear error.
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { createClient, type ClickHouseClient, ClickHouseLogLevel } from '@clickhouse/client';
import { HeimdallError, errorMessage } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import type { QueryParams, Store } from './store.ts';

export type ClickHouseConnection = NonNullable<NonNullable<Parameters<typeof createClient>[0]>['connection']>;

export interface ClickHouseStoreOptions {
  url: string;
  database: string;
  username: string;
  password: string;
  /** Another transport for the same client (tests run it over chDB's in-process connection). */
  connection?: ClickHouseConnection;
}

/** CLICKHOUSE_ADDR is host:port of the HTTP interface (default port 8123) or a full URL. */
export function clickhouseUrl(addr: string): string {
  if (/^https?:\/\//.test(addr)) return addr;
  return /:\d+$/.test(addr) ? `http://${addr}` : `http://${addr}:8123`;
}

export async function openClickHouseStore(opts: ClickHouseStoreOptions): Promise<Store> {
  const log = createLogger('clickhouse');
  const logger = class {
    trace() {}
    debug() {}
    info() {}
    warn(e: { message: string }) { log.warn(e.message); }
    error(e: { message: string; err?: Error }) { log.error(e.message, { err: e.err?.message }); }
  };
  // The header marks Heimdall's own requests: an agent on the database's node leaves them out
  // (as it does the UI's polling), so storing records does not make records of itself.
  const base = { url: opts.url, username: opts.username, password: opts.password, http_headers: { 'X-Heimdall-UI': 'storage' }, log: { LoggerClass: logger, level: ClickHouseLogLevel.WARN }, ...(opts.connection ? { connection: opts.connection } : {}) };
  const wrap = (err: unknown): HeimdallError => {
    const msg = errorMessage(err);
    const down = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|socket hang up|Timeout/i.test(msg);
    return new HeimdallError(down ? 'STORAGE_UNAVAILABLE' : 'STORAGE_QUERY', `ClickHouse at ${opts.url}: ${msg}`, { cause: err });
  };
  // The database may not exist yet: create it through a client bound to "default".
  const bootstrap = createClient({ ...base, database: 'default' });
  try {
    await bootstrap.command({ query: `CREATE DATABASE IF NOT EXISTS ${opts.database}` });
  } catch (err) {
    throw wrap(err);
  } finally {
    if (!opts.connection) await bootstrap.close(); // a shared connection is closed with the store
  }
  const client: ClickHouseClient = createClient({
    ...base,
    database: opts.database,
    clickhouse_settings: { output_format_json_quote_64bit_integers: 1 },
  });
  // Our rows are already encoded: send the bytes as they are (client.insert() wants row objects).
  const sendInsert = async (query: string, body: Buffer): Promise<void> => {
    try {
      const res = await client.exec({ query, values: Readable.from([body], { objectMode: false }) });
      res.stream.resume();
      await finished(res.stream);
    } catch (err) {
      throw wrap(err);
    }
  };
  return {
    kind: 'clickhouse',
    database: opts.database,
    async exec(sql) {
      try {
        await client.command({ query: sql });
      } catch (err) {
        throw wrap(err);
      }
    },
    async query<T>(sql: string, params: QueryParams = {}): Promise<T[]> {
      try {
        const rs = await client.query({ query: sql, query_params: params, format: 'JSON' });
        return ((await rs.json()) as { data: T[] }).data;
      } catch (err) {
        throw wrap(err);
      }
    },
    insertJsonLines(table, body, columns) {
      const format = columns ? `(${columns.join(', ')}) FORMAT JSONCompactEachRow` : 'FORMAT JSONEachRow';
      return sendInsert(`INSERT INTO ${table} ${format}`, body);
    },
    insertNative(table, body, columns) {
      return sendInsert(`INSERT INTO ${table} (${columns.join(', ')}) SETTINGS input_format_native_allow_types_conversion = 1 FORMAT Native`, body);
    },
    async ping() {
      const r = await client.ping();
      if (!r.success) throw wrap(r.error);
    },
    async close() {
      await client.close();
    },
  };
}
