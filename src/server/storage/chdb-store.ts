// Embedded ClickHouse (chDB). Only the async calls are used: the synchronous ones block
// the event loop for the whole query (see shared/notes/chdb-and-clickhouse.md).
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { rm, truncate, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { HeimdallError, errorMessage } from '../../shared/errors.ts';
import type { QueryParams, Store } from './store.ts';

type ChdbModule = typeof import('chdb');
type Session = InstanceType<ChdbModule['Session']>;

export interface ChdbStoreOptions {
  path: string;
  database: string;
  maxMemoryBytes?: number;
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sqlString = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * mkdir -p, one level at a time: Node's recursive mkdir spins forever where a parent exists
 * but refuses children (e.g. under /proc), and its errors do not say what to change.
 */
function makeDataDir(path: string): void {
  const missing: string[] = [];
  for (let p = path; !existsSync(p) && dirname(p) !== p; p = dirname(p)) missing.unshift(p);
  try {
    for (const p of missing) mkdirSync(p);
  } catch (err) {
    throw new HeimdallError('STORAGE_UNAVAILABLE', `cannot create the data directory ${path}: ${errorMessage(err)}; set HEIMDALL_DATA_DIR to a writable folder`, { cause: err });
  }
}

export async function openChdbStore(opts: ChdbStoreOptions): Promise<Store> {
  makeDataDir(opts.path);
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
  // chDB's insert call takes text formats only; Native blocks go through a file (page cache,
  // emptied right after the insert and reused), in a folder per process. Folders of
  // processes that are gone are left-overs of a crash.
  const spoolRoot = join(opts.path, 'heimdall-spool');
  mkdirSync(spoolRoot, { recursive: true });
  for (const name of readdirSync(spoolRoot)) if (!processAlive(Number(name))) rmSync(join(spoolRoot, name), { recursive: true, force: true });
  const spool = join(spoolRoot, String(process.pid));
  mkdirSync(spool, { recursive: true });
  const idleSpoolFiles: string[] = [];
  let spooled = 0;
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
        // Parallel parsing splits the body across threads; for our small JSON inserts
        // (diagnostics) the split and hand-off cost more CPU than they save.
        await session.insert({ table, values: body, format: columns ? 'JSONCompactEachRow' : 'JSONEachRow', columns, settings: { input_format_parallel_parsing: 0 } });
      } catch (err) {
        throw wrap(err);
      }
    },
    async insertNative(table, body, columns) {
      live();
      const file = idleSpoolFiles.pop() ?? join(spool, `${++spooled}.native`);
      try {
        await writeFile(file, body);
      } catch (err) {
        await rm(file, { force: true });
        throw new HeimdallError('STORAGE_UNAVAILABLE', `cannot write ${file} for the insert: ${errorMessage(err)}; check free space in HEIMDALL_DATA_DIR`, { cause: err });
      }
      try {
        // FROM INFILE reads the file through the same Native input (and type conversion) a
        // ClickHouse server's HTTP interface uses for clickhouse-store's insert.
        await session.queryAsync(`INSERT INTO ${table} (${columns.join(', ')}) FROM INFILE ${sqlString(file)} FORMAT Native`);
      } catch (err) {
        throw wrap(err);
      } finally {
        // Emptied and kept for the next insert, not deleted: on ext4 without a journal every
        // new inode skips those freed in the last 30 s, one buffer lookup each (kernel
        // `recently_deleted`), and a file made and freed per insert only adds to that.
        await truncate(file, 0).catch(() => undefined);
        idleSpoolFiles.push(file);
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
      rmSync(spool, { recursive: true, force: true });
    },
  };
  if (opts.database !== 'default') await store.exec(`CREATE DATABASE IF NOT EXISTS ${opts.database}`);
  return store;
}
