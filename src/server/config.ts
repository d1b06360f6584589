// Server configuration: parsed once from the environment, validated, units in the names.
import { resolve } from 'node:path';
import { HeimdallError } from '../shared/errors.ts';
import { type Env, envDurationMs, envInt, envPort, envString } from '../shared/config/env.ts';
import { IDENTIFIER } from './storage/store.ts';

export interface ServerConfig {
  /** null → embedded ClickHouse (chDB) under dataDir. */
  clickhouseAddr: string | null;
  clickhouseDb: string;
  clickhouseUser: string;
  clickhousePassword: string;
  grpcPort: number;
  httpPort: number;
  listenHost: string;
  httpShutdownTimeoutMs: number;
  dataDir: string;
  retentionMs: number;
  coalesceRows: number;
  coalesceIntervalMs: number;
  maxPendingRows: number;
  chdbMaxMemoryMb: number;
}

export function loadServerConfig(env: Env = process.env): ServerConfig {
  const db = envString(env, 'CLICKHOUSE_DB', 'default');
  if (!IDENTIFIER.test(db)) throw new HeimdallError('CONFIG_INVALID', `CLICKHOUSE_DB=${JSON.stringify(db)} is invalid: expected a database name of letters, digits and "_"`);
  const addr = env.CLICKHOUSE_ADDR?.trim();
  if (addr && !/^(https?:\/\/)?[\w.-]+(:\d{1,5})?\/?$/.test(addr) && !/^(https?:\/\/)?\[[0-9a-f:]+\](:\d{1,5})?\/?$/i.test(addr))
    throw new HeimdallError('CONFIG_INVALID', `CLICKHOUSE_ADDR=${JSON.stringify(addr)} is invalid: expected host:port of the ClickHouse HTTP interface (default port 8123) or a URL`);
  return {
    clickhouseAddr: addr ? addr : null,
    clickhouseDb: db,
    clickhouseUser: envString(env, 'CLICKHOUSE_USER', 'default'),
    clickhousePassword: env.CLICKHOUSE_PASSWORD ?? '',
    grpcPort: envPort(env, 'PORT', 50051),
    httpPort: envPort(env, 'HTTP_PORT', 8080),
    listenHost: envString(env, 'HEIMDALL_LISTEN_HOST', '0.0.0.0'),
    httpShutdownTimeoutMs: envDurationMs(env, 'HTTP_SHUTDOWN_TIMEOUT', '5s'),
    dataDir: resolve(envString(env, 'HEIMDALL_DATA_DIR', './data')),
    retentionMs: envDurationMs(env, 'HEIMDALL_RETENTION', '168h', { min: 3_600_000 }),
    coalesceRows: envInt(env, 'HEIMDALL_INGEST_COALESCE_ROWS', 100_000, 1, 1_000_000),
    coalesceIntervalMs: envDurationMs(env, 'HEIMDALL_INGEST_COALESCE_INTERVAL', '500ms'),
    maxPendingRows: envInt(env, 'HEIMDALL_INGEST_MAX_PENDING_ROWS', 200_000, 1000, 100_000_000),
    chdbMaxMemoryMb: envInt(env, 'HEIMDALL_CHDB_MAX_MEMORY_MB', 4096, 256, 1_048_576),
  };
}
