// HTTP API + embedded UI. JSON errors always say which parameter was wrong.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { HeimdallError, errorMessage } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import { VERSION } from '../../shared/version.ts';
import type { Ingester } from '../ingest/ingester.ts';
import { assertUuid, getLog, health, listLogs, serviceMap, stats } from '../storage/queries.ts';
import type { Store } from '../storage/store.ts';
import { ParamError, durationMs, optionalText, parseLogQuery, rejectUnknown, role, timeRange, type Query } from './params.ts';
import { renderMetrics } from './metrics.ts';

const log = createLogger('http');
const UI_DIR = fileURLToPath(new URL('../../../ui/dist/', import.meta.url));
const DAY_MS = 86_400_000;

export interface HttpAppDeps {
  store: Store;
  ingester: Ingester;
  uiDir?: string;
}

export async function buildHttpApp(deps: HttpAppDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024, return503OnClosing: true });
  const { store } = deps;
  const httpCounts = new Map<string, number>();

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const key = `${req.method} ${route} ${reply.statusCode}`;
    httpCounts.set(key, (httpCounts.get(key) ?? 0) + 1);
  });

  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof ParamError) return reply.code(400).send({ error: { code: err.code, parameter: err.parameter, message: err.message } });
    if (err instanceof HeimdallError && err.code === 'BAD_PARAMETER') return reply.code(400).send({ error: { code: err.code, message: err.message } });
    if (err instanceof HeimdallError && (err.code === 'STORAGE_UNAVAILABLE' || err.code === 'STORAGE_QUERY')) {
      log.warn('storage error', { err: err.message });
      return reply.code(503).send({ error: { code: err.code, message: 'storage is unavailable: ' + err.message } });
    }
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status < 500) return reply.code(status).send({ error: { code: 'BAD_REQUEST', message: errorMessage(err) } });
    log.error('request failed', { err: errorMessage(err) });
    return reply.code(500).send({ error: { code: 'INTERNAL', message: errorMessage(err) } });
  });

  app.get('/healthz', async () => ({ status: 'ok', version: VERSION }));
  app.get('/readyz', async (_req, reply) => {
    try {
      await store.ping();
      return { status: 'ready', storage: store.kind };
    } catch (err) {
      return reply.code(503).send({ status: 'unavailable', storage: store.kind, error: errorMessage(err) });
    }
  });

  app.get('/api/logs', async (req) => {
    const q = req.query as Query;
    rejectUnknown(q);
    const { filters, limit, cursor } = parseLogQuery(q);
    return listLogs(store, filters, limit, cursor);
  });

  app.get('/api/logs/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    assertUuid(id);
    const item = await getLog(store, id);
    if (!item) return reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no exchange with id ${id}` } });
    return item;
  });

  app.get('/api/stats', async (req) => {
    const q = req.query as Query;
    rejectUnknown(q, ['since', 'until', 'window', 'bucket', 'node', 'namespace', 'role', 'host']);
    const range = timeRange(q, '1h', 31 * DAY_MS);
    const windowS = Number(range.untilNs - range.sinceNs) / 1e9;
    const auto = Math.max(60, Math.ceil(windowS / 120 / 60) * 60);
    const bucketMs = q.bucket === undefined ? auto * 1000 : durationMs(q, 'bucket', '1m', DAY_MS);
    if (bucketMs < 60_000 || bucketMs % 60_000 !== 0) throw new ParamError('bucket', 'must be whole minutes (data is aggregated per minute)');
    return stats(store, { ...range, bucketSeconds: bucketMs / 1000, node: optionalText(q, 'node'), namespace: optionalText(q, 'namespace'), role: role(q), host: optionalText(q, 'host') });
  });

  app.get('/api/map', async (req) => {
    const q = req.query as Query;
    rejectUnknown(q, ['since', 'until', 'window']);
    const range = timeRange(q, '15m', DAY_MS);
    return serviceMap(store, range.sinceNs, range.untilNs);
  });

  app.get('/api/agents', async (req) => {
    const q = req.query as Query;
    rejectUnknown(q, ['window']);
    const windowMs = durationMs(q, 'window', '1h', 7 * DAY_MS);
    const bucketS = Math.max(15, Math.ceil(windowMs / 1000 / 120 / 15) * 15);
    return health(store, BigInt(Date.now() - windowMs) * 1_000_000n, bucketS);
  });

  app.get('/metrics', async (_req, reply) => {
    reply.type('text/plain; version=0.0.4');
    return renderMetrics(deps.ingester, httpCounts);
  });

  const uiDir = deps.uiDir ?? UI_DIR;
  if (existsSync(uiDir)) {
    await app.register(fastifyStatic, { root: uiDir, prefix: '/', wildcard: false, index: ['index.html'] });
    // Client-side routes (/overview, /map, …) all load the single page.
    app.setNotFoundHandler((req, reply) => {
      if (req.method === 'GET' && !req.url.startsWith('/api/') && !/\.[a-z0-9]+$/i.test(req.url.split('?')[0])) return reply.sendFile('index.html');
      return reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } });
    });
  } else {
    log.warn('UI build not found; serving the API only', { dir: uiDir, fix: 'run "npm run build"' });
    app.get('/', async () => ({ message: 'Heimdall API. The UI is not built: run "npm run build".' }));
  }
  return app;
}
