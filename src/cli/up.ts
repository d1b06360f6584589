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
// The UI waits this long at most for the agent to capture (loading the probe takes 1–3 s).
const AGENT_READY_WAIT_MS = 30_000;
// The agent's fd that says it captures (main.ts, under HEIMDALL_UP_CHILD).
const READY_FD = 3;

export async function runUp(runUntilSignal: (stop: () => Promise<void>) => void): Promise<void> {
  const server = new HeimdallServer(loadServerConfig());
  let agent: ChildProcess | null = null;
  let stopping = false;
  runUntilSignal(async () => {
    stopping = true;
    // The agent first, so what it flushes reaches a server still taking batches.
    if (agent && agent.exitCode === null && agent.signalCode === null) {
      const exited = new Promise((r) => agent!.once('exit', r));
      agent.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, AGENT_STOP_MS).unref())]);
    }
    await server.shutdown();
  });

  // Restarts back off (2 s, doubling to 1 min) while agents keep failing soon after starting.
  let restartDelayMs = 2000;
  const startAgent = (): ChildProcess => {
    const startedAt = Date.now();
    const env = {
      ...process.env,
      SERVER_ADDR: process.env.SERVER_ADDR ?? `127.0.0.1:${server.grpcPort}`,
      HEIMDALL_EXCLUDE_PIDS: [process.env.HEIMDALL_EXCLUDE_PIDS, String(process.pid)].filter(Boolean).join(','),
      HEIMDALL_UP_CHILD: '1',
    };
    // The V8 flags bin/heimdall gives a standalone agent (see there).
    const child = spawn(process.execPath, ['--max-semi-space-size=16', '--single-threaded-gc', '--disable-warning=ExperimentalWarning', fileURLToPath(new URL('./main.ts', import.meta.url)), 'agent'], {
      env,
      stdio: ['pipe', 'inherit', 'inherit', 'pipe'],
      detached: true,
    });
    agent = child;
    child.on('exit', (code, signal) => {
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
    return child;
  };

  /** Starts the agent; resolves once it captures, exits, or AGENT_READY_WAIT_MS went by. */
  const startAgentAndWait = () =>
    new Promise<void>((resolve) => {
      const child = startAgent();
      const timer = setTimeout(() => done(), AGENT_READY_WAIT_MS);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      child.once('exit', done);
      const ready = child.stdio[READY_FD] as NodeJS.ReadableStream | null;
      ready?.on('error', () => undefined).once('data', done);
      ready?.resume(); // drained, so the agent's one write never blocks
    });

  // The UI and API open once the agent captures (or cannot): traffic made as soon as the UI
  // answers is recorded. Ingest listens first: the agent ships to it.
  await server.start({ beforeHttp: startAgentAndWait });
  const host = server.cfg.listenHost === '0.0.0.0' || server.cfg.listenHost === '::' ? 'localhost' : server.cfg.listenHost;
  process.stdout.write(`\nHeimdall is up: UI and API at http://${host}:${server.httpPort}  (gRPC ingest on :${server.grpcPort})\n\n`);
}
