// `heimdall up`: the server in this process, the agent as a child process so its capture
// work never stalls the API, and so an agent that cannot start leaves the server running.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../shared/log.ts';
import { EXIT_CAPTURE_LOST } from './exit-codes.ts';
import { loadServerConfig } from '../server/config.ts';
import { HeimdallServer } from '../server/server.ts';

const log = createLogger('up');
// The agent's own shutdown gives up sending after ~5.5 s.
const AGENT_STOP_MS = 7000;

export async function runUp(runUntilSignal: (stop: () => Promise<void>) => void): Promise<void> {
  const server = new HeimdallServer(loadServerConfig());
  let agent: ChildProcess | null = null;
  runUntilSignal(async () => {
    // The agent first, so what it flushes reaches a server still taking batches.
    if (agent && agent.exitCode === null && agent.signalCode === null) {
      const exited = new Promise((r) => agent!.once('exit', r));
      agent.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, AGENT_STOP_MS).unref())]);
    }
    await server.shutdown();
  });
  await server.start();
  const env = {
    ...process.env,
    SERVER_ADDR: process.env.SERVER_ADDR ?? `127.0.0.1:${server.grpcPort}`,
    HEIMDALL_EXCLUDE_PIDS: [process.env.HEIMDALL_EXCLUDE_PIDS, String(process.pid)].filter(Boolean).join(','),
    HEIMDALL_UP_CHILD: '1',
  };
  let stopping = false;
  process.once('SIGTERM', () => (stopping = true)).once('SIGINT', () => (stopping = true));
  // Restarts back off (2 s, doubling to 1 min) while agents keep failing soon after starting.
  let restartDelayMs = 2000;
  const startAgent = () => {
    const startedAt = Date.now();
    // The young-generation cap bin/heimdall gives a standalone agent (see there).
    agent = spawn(process.execPath, ['--max-semi-space-size=16', '--disable-warning=ExperimentalWarning', fileURLToPath(new URL('./main.ts', import.meta.url)), 'agent'], {
      env,
      stdio: ['pipe', 'inherit', 'inherit'],
      detached: true,
    });
    agent.on('exit', (code, signal) => {
      if (stopping || signal === 'SIGTERM') return;
      // An agent that was capturing (or ran a while) and then failed is restarted; one that
      // cannot start is left down.
      const ranMs = Date.now() - startedAt;
      if (code === EXIT_CAPTURE_LOST || ranMs > 10_000) {
        restartDelayMs = ranMs > 120_000 ? 2000 : restartDelayMs;
        log.warn(`the agent stopped; restarting it in ${restartDelayMs / 1000}s`, { code, signal });
        setTimeout(() => !stopping && startAgent(), restartDelayMs).unref();
        restartDelayMs = Math.min(restartDelayMs * 2, 60_000);
        return;
      }
      log.warn('the agent is not running; the server, API and UI keep working without live capture', { code, signal });
    });
  };
  startAgent();
  const host = server.cfg.listenHost === '0.0.0.0' || server.cfg.listenHost === '::' ? 'localhost' : server.cfg.listenHost;
  process.stdout.write(`\nHeimdall is up: UI and API at http://${host}:${server.httpPort}  (gRPC ingest on :${server.grpcPort})\n\n`);
}
