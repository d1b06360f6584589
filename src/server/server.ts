// Wires storage → ingest → gRPC + HTTP. start() brings everything up; shutdown() stops intake,
// finishes in-flight inserts and closes storage within the configured timeout.
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { HeimdallError, errorMessage } from '../shared/errors.ts';
import { createLogger } from '../shared/log.ts';
import type { ServerConfig } from './config.ts';
import { buildHttpApp } from './api/http-app.ts';
import { GrpcIngestServer } from './ingest/grpc-server.ts';
import { Ingester } from './ingest/ingester.ts';
import { openChdbStore } from './storage/chdb-store.ts';
import { clickhouseUrl, openClickHouseStore } from './storage/clickhouse-store.ts';
import { migrate } from './storage/schema.ts';
import type { Store } from './storage/store.ts';

const log = createLogger('server');

export async function openStore(cfg: ServerConfig): Promise<Store> {
  if (cfg.clickhouseAddr) {
    return openClickHouseStore({ url: clickhouseUrl(cfg.clickhouseAddr), database: cfg.clickhouseDb, username: cfg.clickhouseUser, password: cfg.clickhousePassword });
  }
  return openChdbStore({ path: join(cfg.dataDir, 'clickhouse'), database: cfg.clickhouseDb, maxMemoryBytes: cfg.chdbMaxMemoryMb * 1024 * 1024 });
}

export class HeimdallServer {
  readonly cfg: ServerConfig;
  store: Store | null = null;
  ingester: Ingester | null = null;
  private grpc: GrpcIngestServer | null = null;
  private http: FastifyInstance | null = null;
  private stopping: Promise<void> | null = null;
  grpcPort = 0;
  httpPort = 0;

  constructor(cfg: ServerConfig) {
    this.cfg = cfg;
  }

  /**
   * beforeHttp: runs once gRPC ingest listens and before the UI and API do (`heimdall up` starts
   * its agent there, so that once the UI answers, capture is on).
   */
  async start(opts: { beforeHttp?: () => Promise<void> } = {}): Promise<void> {
    const cfg = this.cfg;
    this.store = await openStore(cfg);
    await migrate(this.store, Math.floor(cfg.retentionMs / 1000));
    this.ingester = new Ingester(this.store, {
      coalesceRows: cfg.coalesceRows,
      coalesceMs: cfg.coalesceIntervalMs,
      maxPendingRows: cfg.maxPendingRows,
      dedupWindowMs: 6 * 3_600_000,
    });
    await this.ingester.start();
    this.grpc = new GrpcIngestServer(this.ingester);
    this.grpcPort = await this.grpc.start(cfg.listenHost, cfg.grpcPort);
    await opts.beforeHttp?.();
    this.http = await buildHttpApp({ store: this.store, ingester: this.ingester });
    try {
      await this.http.listen({ host: cfg.listenHost, port: cfg.httpPort });
    } catch (err) {
      throw new HeimdallError('CONFIG_INVALID', `cannot listen for HTTP on ${cfg.listenHost}:${cfg.httpPort}: ${errorMessage(err)}; is HTTP_PORT in use?`);
    }
    const addr = this.http.server.address();
    this.httpPort = typeof addr === 'object' && addr ? addr.port : cfg.httpPort;
    log.info('server started', {
      storage: this.store.kind === 'chdb' ? `embedded ClickHouse at ${join(cfg.dataDir, 'clickhouse')}` : `ClickHouse ${cfg.clickhouseAddr}`,
      grpc: this.grpcPort,
      http: this.httpPort,
    });
  }

  /** Idempotent. Stops intake first so nothing is accepted that cannot be stored. */
  shutdown(): Promise<void> {
    this.stopping ??= (async () => {
      const deadline = Date.now() + this.cfg.httpShutdownTimeoutMs;
      const left = () => Math.max(100, deadline - Date.now());
      await Promise.all([
        this.grpc?.shutdown(left()),
        this.http?.close().catch((err: unknown) => log.warn('http close', { err: errorMessage(err) })),
        this.ingester?.shutdown(),
      ]);
      await this.store?.close();
      log.info('server stopped');
    })();
    return this.stopping;
  }
}
