// Versioned migrations. Each runs once, in order, and is recorded in heimdall_migrations.
// The raw table is ordered by time so "newest first" reads in order and stops early; the
// per-minute aggregate feeds dashboards without scanning raw rows.
import { createLogger } from '../../shared/log.ts';
import type { Store } from './store.ts';

const log = createLogger('storage');

interface Migration {
  version: number;
  name: string;
  sql: (db: string) => string[];
}

/**
 * gRPC codes that are the server's fault, as 5xx are (OpenTelemetry's server-span rule:
 * UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS); the other
 * codes but OK count as the caller's, as 4xx do. gRPC answers HTTP 200 either way.
 */
export const GRPC_SERVER_ERRORS = "('2', '4', '12', '13', '14', '15')";

/** HTTP's own error classes: the view of migrations 1 and 4 (applied migrations are never edited). */
const HTTP_ERRORS = { errors: 'status >= 500', clientErrors: 'status >= 400 AND status < 500' };
/** Since migration 7, failed gRPC calls (HTTP 200) count too, by their grpc-status. */
const HTTP_AND_GRPC_ERRORS = {
  errors: `status >= 500 OR grpc_status IN ${GRPC_SERVER_ERRORS}`,
  clientErrors: `(status >= 400 AND status < 500) OR (grpc_status NOT IN ('', '0') AND grpc_status NOT IN ${GRPC_SERVER_ERRORS})`,
};

/** The per-minute RED view, reading the rows inserted into `source`. */
function redView(db: string, source: string, classes = HTTP_ERRORS): string {
  return `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.http_red_1m_mv TO ${db}.http_red_1m AS
      SELECT
        toStartOfMinute(ts) AS minute, node, namespace,
        if(pod != '', pod, process) AS service,
        role, host, method, endpoint,
        count() AS requests,
        countIf(${classes.errors}) AS errors,
        countIf(${classes.clientErrors}) AS client_errors,
        countIf(unmatched) AS unmatched_requests,
        sum(duration_ns) AS duration_sum,
        quantilesTDigestStateIf(0.5, 0.95, 0.99)(duration_ns, NOT unmatched) AS latency
      FROM ${db}.${source}
      GROUP BY minute, node, namespace, service, role, host, method, endpoint`;
}

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'http_exchanges, per-minute RED aggregate, agent diagnostics',
    sql: (db) => [
      `CREATE TABLE IF NOT EXISTS ${db}.http_exchanges (
        id UUID,
        ts DateTime64(9, 'UTC') CODEC(Delta, ZSTD(1)),
        duration_ns UInt64 CODEC(T64, ZSTD(1)),
        node LowCardinality(String),
        agent_id LowCardinality(String),
        batch_id String CODEC(ZSTD(1)),
        pid UInt32 CODEC(T64, ZSTD(1)),
        process LowCardinality(String),
        container_id LowCardinality(String),
        namespace LowCardinality(String),
        pod LowCardinality(String),
        container LowCardinality(String),
        labels Map(LowCardinality(String), String) CODEC(ZSTD(1)),
        role Enum8('unknown' = 0, 'server' = 1, 'client' = 2),
        src_ip IPv6,
        src_port UInt16,
        dst_ip IPv6,
        dst_port UInt16,
        method LowCardinality(String),
        host LowCardinality(String),
        path String CODEC(ZSTD(1)),
        endpoint LowCardinality(String),
        query String CODEC(ZSTD(1)),
        http_version LowCardinality(String),
        status UInt16,
        request_bytes UInt64 CODEC(T64, ZSTD(1)),
        response_bytes UInt64 CODEC(T64, ZSTD(1)),
        user_agent LowCardinality(String),
        traceparent String CODEC(ZSTD(1)),
        request_sample String CODEC(ZSTD(3)),
        response_sample String CODEC(ZSTD(3)),
        request_truncated Bool,
        response_truncated Bool,
        unmatched Bool,
        ingested_at DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1)),
        INDEX idx_status status TYPE minmax GRANULARITY 4,
        INDEX idx_duration duration_ns TYPE minmax GRANULARITY 4,
        INDEX idx_host host TYPE set(256) GRANULARITY 4,
        INDEX idx_batch batch_id TYPE bloom_filter(0.01) GRANULARITY 4
      ) ENGINE = MergeTree
      PARTITION BY toDate(ts)
      ORDER BY (ts, id)
      SETTINGS ttl_only_drop_parts = 1`,
      `CREATE TABLE IF NOT EXISTS ${db}.http_red_1m (
        minute DateTime('UTC'),
        node LowCardinality(String),
        namespace LowCardinality(String),
        service LowCardinality(String),
        role Enum8('unknown' = 0, 'server' = 1, 'client' = 2),
        host LowCardinality(String),
        method LowCardinality(String),
        endpoint LowCardinality(String),
        requests SimpleAggregateFunction(sum, UInt64),
        errors SimpleAggregateFunction(sum, UInt64),
        client_errors SimpleAggregateFunction(sum, UInt64),
        unmatched_requests SimpleAggregateFunction(sum, UInt64),
        duration_sum SimpleAggregateFunction(sum, UInt64),
        latency AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), UInt64)
      ) ENGINE = AggregatingMergeTree
      PARTITION BY toDate(minute)
      ORDER BY (minute, node, role, host, method, endpoint, namespace, service)
      SETTINGS ttl_only_drop_parts = 1`,
      redView(db, 'http_exchanges'),
      `CREATE TABLE IF NOT EXISTS ${db}.agent_diagnostics (
        ts DateTime64(3, 'UTC'),
        node LowCardinality(String),
        agent_id LowCardinality(String),
        started_at DateTime64(3, 'UTC'),
        version LowCardinality(String),
        events UInt64, matched UInt64, unmatched UInt64, drops UInt64,
        send_failures UInt64, kernel_drops UInt64, queue_length UInt64, parse_errors UInt64,
        capture_status String
      ) ENGINE = MergeTree
      PARTITION BY toDate(ts)
      ORDER BY (node, agent_id, ts)
      SETTINGS ttl_only_drop_parts = 1`,
    ],
  },
  {
    version: 2,
    name: 'cheaper inserts: drop the unused batch_id bloom filter, ZSTD(1) for samples',
    // Measured with 50k-row inserts: about 10% less engine CPU per row. The codec change is
    // metadata only (new parts and merges use it); dropping the index only unlinks its files.
    sql: (db) => [
      `ALTER TABLE ${db}.http_exchanges DROP INDEX IF EXISTS idx_batch`,
      `ALTER TABLE ${db}.http_exchanges MODIFY COLUMN request_sample String CODEC(ZSTD(1))`,
      `ALTER TABLE ${db}.http_exchanges MODIFY COLUMN response_sample String CODEC(ZSTD(1))`,
    ],
  },
  {
    version: 3,
    name: 'tls flag on http_exchanges',
    sql: (db) => [`ALTER TABLE ${db}.http_exchanges ADD COLUMN IF NOT EXISTS tls Bool DEFAULT false AFTER unmatched`],
  },
  {
    version: 4,
    name: 'per-minute view fed in batches through http_red_feed',
    // The view ran on every insert into http_exchanges: ~13 of ~27 ms of engine CPU per
    // 3,000-row insert, plus a part to merge in http_red_1m each time. It now reads a Null
    // table the ingester fills with the same blocks, at most once a second under load (see
    // ingester.ts). The feed has http_exchanges' columns: a migration adding a column to one
    // adds it to the other.
    sql: (db) => [
      `CREATE TABLE IF NOT EXISTS ${db}.http_red_feed AS ${db}.http_exchanges ENGINE = Null`,
      `DROP VIEW IF EXISTS ${db}.http_red_1m_mv`,
      redView(db, 'http_red_feed'),
    ],
  },
  {
    version: 5,
    name: 'LZ4 for the text columns of http_exchanges',
    // ZSTD on the text columns was a quarter of the engine's CPU for inserts and merges: the
    // same 6,400-row Native blocks, alternating tables in one process, cost 22% less to insert
    // and 28% less to merge with LZ4 there, for 5% more bytes on disk. Numbers keep
    // Delta/T64 + ZSTD, which they compress far better and cost little. Metadata only: new
    // parts and merges use it.
    sql: (db) => [
      `ALTER TABLE ${db}.http_exchanges
        MODIFY COLUMN batch_id String CODEC(LZ4),
        MODIFY COLUMN labels Map(LowCardinality(String), String) CODEC(LZ4),
        MODIFY COLUMN path String CODEC(LZ4),
        MODIFY COLUMN query String CODEC(LZ4),
        MODIFY COLUMN traceparent String CODEC(LZ4),
        MODIFY COLUMN request_sample String CODEC(LZ4),
        MODIFY COLUMN response_sample String CODEC(LZ4)`,
    ],
  },
  {
    version: 6,
    name: 'grpc_status on http_exchanges and its feed',
    // gRPC calls are HTTP/2 exchanges whose outcome is the grpc-status trailer (HTTP says 200).
    sql: (db) => [
      `ALTER TABLE ${db}.http_exchanges ADD COLUMN IF NOT EXISTS grpc_status LowCardinality(String) DEFAULT '' AFTER tls`,
      `ALTER TABLE ${db}.http_red_feed ADD COLUMN IF NOT EXISTS grpc_status LowCardinality(String) DEFAULT '' AFTER tls`,
    ],
  },
  {
    version: 7,
    name: 'per-minute view counts failed gRPC calls as errors',
    // Minutes already rolled up keep their counts; rows fed from now on are counted by this view.
    sql: (db) => [`DROP VIEW IF EXISTS ${db}.http_red_1m_mv`, redView(db, 'http_red_feed', HTTP_AND_GRPC_ERRORS)],
  },
];

/** Migrations this build knows; a database at this version needs none. */
export const SCHEMA_VERSION = MIGRATIONS.length;

export const TABLES_WITH_TTL: [string, string][] = [
  ['http_exchanges', 'toDateTime(ts)'],
  ['http_red_1m', 'minute'],
  ['agent_diagnostics', 'toDateTime(ts)'],
];

export async function migrate(store: Store, retentionSeconds: number): Promise<void> {
  const db = store.database;
  await store.exec(
    `CREATE TABLE IF NOT EXISTS ${db}.heimdall_migrations (version UInt32, name String, applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version`,
  );
  const done = new Set(
    (await store.query<{ version: number }>(`SELECT version FROM ${db}.heimdall_migrations`)).map((r) => Number(r.version)),
  );
  for (const m of MIGRATIONS) {
    if (done.has(m.version)) continue;
    for (const stmt of m.sql(db)) await store.exec(stmt);
    await store.exec(`INSERT INTO ${db}.heimdall_migrations (version, name) VALUES (${m.version}, '${m.name.replace(/[\\']/g, '')}')`);
    log.info('applied migration', { version: m.version, name: m.name });
  }
  await applyRetention(store, retentionSeconds);
  await tuneMerges(store);
}

/**
 * Background merges were about half of the embedded server's CPU under sustained ingest of
 * JSON rows; a wider merge base (fewer, wider merges: less rewriting of each row) raised
 * sustained rows per CPU-second by ~40%. With Native inserts the engine's share fell and the
 * parts it left mattered more: at base 10, 8–13 active parts at 1M rows put /api/logs' p95
 * at 55–65 ms; at base 7, 2–6 parts and 30–36 ms, for 68–75k rows per CPU-second (base 5:
 * 62–68k; the engine's default: 55k). Settings this ClickHouse does not know are skipped,
 * so older servers still start.
 */
const MERGE_TUNING: [string, string][] = [
  ['merge_selector_base', '7'],
  ['merge_selector_enable_heuristic_to_lower_max_parts_to_merge_at_once', '0'],
];

async function tuneMerges(store: Store): Promise<void> {
  const known = await store.query<{ name: string }>(
    `SELECT name FROM system.merge_tree_settings WHERE name IN ({names:Array(String)})`,
    { names: MERGE_TUNING.map(([n]) => n) },
  );
  const names = new Set(known.map((r) => r.name));
  const settings = MERGE_TUNING.filter(([n]) => names.has(n)).map(([n, v]) => `${n} = ${v}`);
  if (settings.length === 0) return;
  const table = await store.query<{ engine_full: string }>(
    `SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = 'http_exchanges'`,
    { db: store.database },
  );
  if (settings.every((s) => table[0]?.engine_full.includes(s))) return;
  await store.exec(`ALTER TABLE ${store.database}.http_exchanges MODIFY SETTING ${settings.join(', ')}`);
}

/** Sets TTL to the configured retention, without rewriting existing parts. */
async function applyRetention(store: Store, seconds: number): Promise<void> {
  const db = store.database;
  const rows = await store.query<{ name: string; engine_full: string }>(
    `SELECT name, engine_full FROM system.tables WHERE database = {db:String}`,
    { db },
  );
  const engines = new Map(rows.map((r) => [r.name, r.engine_full]));
  for (const [table, expr] of TABLES_WITH_TTL) {
    const current = engines.get(table) ?? '';
    if (current.includes(`toIntervalSecond(${seconds})`)) continue;
    await store.exec(
      `ALTER TABLE ${db}.${table} MODIFY TTL ${expr} + toIntervalSecond(${Math.floor(seconds)}) SETTINGS materialize_ttl_after_modify = 0`,
    );
  }
}
