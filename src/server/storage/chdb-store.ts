// Embedded ClickHouse (chDB). Only the async calls are used: the synchronous ones block
// the event loop for the whole query (see shared/notes/chdb-and-clickhouse.md).
import { mkdirSync } from 'node:fs';
import { HeimdallError, errorMessage } from '../../shared/errors.ts';
import type { QueryParams, Store } from './store.ts';

type ChdbModule = typeof import('chdb');
type Session = InstanceType<ChdbModule['Session']>;

export interface ChdbStoreOptions {
  path: string;
  database: string;
  maxMemoryBytes?: number;
}

export async function openChdbStore(opts: ChdbStoreOptions): Promise<Store> {
  mkdirSync(opts.path, { recursive: true });
  let chdb: ChdbModule;
  try {
    chdb = await import('chdb');
  } catch (err) {
    throw new HeimdallError('STORAGE_UNAVAILABLE', `cannot load the embedded ClickHouse (npm package chdb): ${errorMessage(err)}; run "npm install" (or bash scripts/setup.sh)`, { cause: err });
  }
  let session: Session;
  try {
    const args = ['--output_format_json_quote_64bit_integers=1'];
    if (opts.maxMemoryBytes) args.push(`--max_server_memory_usage=${opts.maxMemoryBytes}`);
    session = new chdb.Session(opts.path, { connectionArgs: args });
  } catch (err) {
    throw new HeimdallError(
      'STORAGE_UNAVAILABLE',
      `cannot open embedded ClickHouse data directory ${opts.path}: ${errorMessage(err)}. ` +
        'Is another Heimdall server using it? Set HEIMDALL_DATA_DIR to another folder.',
      { cause: err },
    );
  }
  let closed = false;
  const live = () => {
    if (closed) throw new HeimdallError('STORAGE_UNAVAILABLE', 'storage is closed');
  };
  const wrap = (err: unknown): HeimdallError =>
    err instanceof HeimdallError ? err : new HeimdallError('STORAGE_QUERY', errorMessage(err), { cause: err });

  const store: Store = {
    kind: 'chdb',
    database: opts.database,
    async exec(sql) {
      live();
      try {
        await session.queryAsync(sql);
      } catch (err) {
        throw wrap(err);
      }
    },
    async query<T>(sql: string, params: QueryParams = {}): Promise<T[]> {
      live();
      try {
        const res = await session.queryBindAsync(sql, params, { format: 'JSON' });
        const text = res.text();
        if (text.length === 0) return [];
        return (JSON.parse(text) as { data: T[] }).data;
      } catch (err) {
        throw wrap(err);
      }
    },
    async insertJsonLines(table, body, columns) {
      live();
      try {
        // Parallel parsing splits the body across threads; for our 1k-100k-row inserts the
        // split and hand-off cost more CPU than they save (measured: ~15% more rows per
        // CPU-second without it, alternating runs), and embedded ingest is CPU-bound.
        await session.insert({ table, values: body, format: columns ? 'JSONCompactEachRow' : 'JSONEachRow', columns, settings: { input_format_parallel_parsing: 0 } });
      } catch (err) {
        throw wrap(err);
      }
    },
    async ping() {
      live();
      await session.queryAsync('SELECT 1');
    },
    async close() {
      if (closed) return;
      closed = true;
      session.close();
    },
  };
  if (opts.database !== 'default') await store.exec(`CREATE DATABASE IF NOT EXISTS ${opts.database}`);
  return store;
}
