// A real Heimdall stack for capture tests: server and agent as child processes, the
// agent told not to capture the server. Needs root (eBPF).
import { runHeimdall, type Running } from './process.ts';
import { freePort } from './nginx.ts';
import { tempDir } from './temp-dir.ts';
import { waitFor } from './server.ts';

export const ROOT_SKIP = process.getuid?.() === 0 ? false : 'needs root to load eBPF programs (CI runs it as root)';

export interface Stack {
  base: string;
  grpcPort: number;
  httpPort: number;
  dataDir: string;
  server: Running;
  agent: Running;
  startServer(): Promise<void>;
  stop(): Promise<void>;
}

export async function startStack(agentEnv: Record<string, string> = {}): Promise<Stack> {
  const dataDir = tempDir('heimdall-e2e-');
  const grpcPort = await freePort();
  const httpPort = await freePort();
  const serverEnv = { HEIMDALL_DATA_DIR: dataDir, PORT: String(grpcPort), HTTP_PORT: String(httpPort), HEIMDALL_LISTEN_HOST: '127.0.0.1', HEIMDALL_INGEST_COALESCE_INTERVAL: '100ms' };
  const stack: Stack = {
    base: `http://127.0.0.1:${httpPort}`,
    grpcPort,
    httpPort,
    dataDir,
    server: runHeimdall(['server'], serverEnv),
    agent: null as unknown as Running,
    async startServer() {
      this.server = runHeimdall(['server'], serverEnv);
      await this.server.waitForOutput(/server started/, 60_000);
    },
    async stop() {
      await Promise.all([this.agent?.stop(), this.server?.stop()]);
    },
  };
  await stack.server.waitForOutput(/server started/, 60_000);
  stack.agent = runHeimdall(['agent'], {
    SERVER_ADDR: `127.0.0.1:${grpcPort}`,
    HEIMDALL_EXCLUDE_PIDS: String(stack.server.child.pid),
    AGENT_FLUSH_INTERVAL: '200ms',
    AGENT_CORRELATOR_TTL: '5s',
    AGENT_DIAGNOSTICS_INTERVAL: '1s',
    NODE_NAME: 'e2e-node',
    ...agentEnv,
  });
  await stack.agent.waitForOutput(/capturing HTTP/, 30_000);
  return stack;
}

export interface Item {
  id: string;
  timestamp: string;
  role: string;
  method: string;
  path: string;
  query: string;
  status: number;
  duration_ms: number;
  process: string;
  host: string;
  http_version: string;
  user_agent: string;
  request_bytes: number;
  response_bytes: number;
  unmatched: boolean;
  tls: boolean;
  grpc_status: string;
  request_truncated: boolean;
  response_truncated: boolean;
  request_sample: string;
  response_sample: string;
  node: string;
  pid: number;
  src_ip: string;
  src_port: number;
  dst_ip: string;
  dst_port: number;
}

export async function fetchAll(base: string, query: string): Promise<Item[]> {
  const items: Item[] = [];
  let next: string | null = null;
  do {
    const res = await fetch(`${base}/api/logs?limit=5000&${query}${next ? `&cursor=${next}` : ''}`);
    if (res.status !== 200) throw new Error(`GET /api/logs → ${res.status}: ${await res.text()}`);
    const body = (await res.json()) as { items: Item[]; next: string | null };
    items.push(...body.items);
    next = body.next;
  } while (next);
  return items;
}

/** Waits (up to 20 s) until the API has at least n records for the filter; returns them all. */
export function waitForRecords(base: string, filter: string, n: number, what: string): Promise<Item[]> {
  return waitFor(async () => {
    const xs = await fetchAll(base, filter);
    return xs.length >= n ? xs : null;
  }, 20_000, what);
}

/**
 * One end's records against what was sent, by path: a record of something not sent, one recorded
 * twice, a wrong method and the secret anywhere in it are problems; `check` looks at the rest of
 * each record once. Returns the paths seen.
 */
export function eachRecordOnce<T extends { method: string }>(xs: Item[], sent: Map<string, T>, end: string, secret: string, problems: string[], check: (r: Item, x: T, where: string) => void): Set<string> {
  const seen = new Set<string>();
  for (const r of xs) {
    const x = sent.get(r.path);
    const where = `${end} ${r.method} ${r.path}`;
    if (!x) problems.push(`${where}: not sent`);
    else if (seen.has(r.path)) problems.push(`${where}: recorded twice`);
    else {
      seen.add(r.path);
      if (r.method !== x.method) problems.push(`${where}: method ${r.method}, sent ${x.method}`);
      check(r, x, where);
    }
    for (const s of [r.path, r.query, r.request_sample, r.response_sample]) if (s.includes(secret)) problems.push(`${where}: the secret left the agent: ${JSON.stringify(s.slice(0, 120))}`);
  }
  return seen;
}
