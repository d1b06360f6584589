// Starts a real Heimdall server (embedded chDB in a temp folder, random ports) for a test file.
import { loadServerConfig } from '../../src/server/config.ts';
import { HeimdallServer } from '../../src/server/server.ts';
import { tempDir } from './temp-dir.ts';

export async function startTestServer(env: Record<string, string> = {}): Promise<{ server: HeimdallServer; base: string; grpcAddr: string; dataDir: string }> {
  const dataDir = tempDir('heimdall-test-');
  const server = new HeimdallServer(loadServerConfig({ HEIMDALL_DATA_DIR: dataDir, PORT: '0', HTTP_PORT: '0', HEIMDALL_LISTEN_HOST: '127.0.0.1', HEIMDALL_INGEST_COALESCE_INTERVAL: '50ms', ...env }));
  await server.start();
  return { server, base: `http://127.0.0.1:${server.httpPort}`, grpcAddr: `127.0.0.1:${server.grpcPort}`, dataDir };
}

export async function getJson<T = Record<string, unknown>>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as T };
}

export async function waitFor<T>(fn: () => Promise<T | null | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
