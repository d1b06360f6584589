// heimdall CLI: `up` (server + local agent), `server`, `agent`.
import { closeSync, writeSync } from 'node:fs';
import { errorMessage, HeimdallError } from '../shared/errors.ts';
import { createLogger } from '../shared/log.ts';
import { VERSION } from '../shared/version.ts';
import { EXIT_CAPTURE_LOST, EXIT_CONFIG } from './exit-codes.ts';
import { HELP } from './help.ts';

const log = createLogger('heimdall');

function fail(err: unknown, code?: number): never {
  const msg = errorMessage(err);
  process.stderr.write(`heimdall: ${msg}\n`);
  process.exit(code ?? (err instanceof HeimdallError && err.code === 'CONFIG_INVALID' ? EXIT_CONFIG : 1));
}

/** A signal has started the stop (the agent's stdin end under `up` counts as one). */
let stopping = false;

/** Runs until SIGINT/SIGTERM, then calls stop once; a second signal exits at once. */
function runUntilSignal(stop: () => Promise<void>): void {
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) process.exit(130);
    stopping = true;
    log.info('shutting down', { signal: sig });
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('shutdown failed', { err: errorMessage(err) });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
    process.stdout.write(`heimdall ${VERSION}\n`);
    return;
  }
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(HELP.main);
    return;
  }
  if (!(cmd in HELP) || cmd === 'main') fail(new HeimdallError('CONFIG_INVALID', `unknown command ${JSON.stringify(cmd)}; run "heimdall --help"`));
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(HELP[cmd as keyof typeof HELP]);
    return;
  }
  if (rest.length > 0) fail(new HeimdallError('CONFIG_INVALID', `"heimdall ${cmd}" takes no arguments (got ${rest.join(' ')}); it is configured by environment variables, see "heimdall ${cmd} --help"`));

  process.title = `heimdall ${cmd}`;
  if (cmd === 'server') {
    const { loadServerConfig } = await import('../server/config.ts');
    const { HeimdallServer } = await import('../server/server.ts');
    const server = new HeimdallServer(loadServerConfig());
    runUntilSignal(() => server.shutdown());
    await server.start();
  } else if (cmd === 'agent') {
    const { loadAgentConfig } = await import('../agent/config.ts');
    const { Agent } = await import('../agent/agent.ts');
    const agent = new Agent(loadAgentConfig());
    runUntilSignal(() => agent.shutdown());
    // Under `heimdall up` the agent has its own process group (a terminal's Ctrl-C reaches only
    // `up`, which stops the agent before the server) and a pipe from `up` as stdin: its end
    // means `up` is gone, however it ended.
    if (process.env.HEIMDALL_UP_CHILD === '1') process.stdin.on('end', () => stopping || process.kill(process.pid, 'SIGTERM')).resume();
    await agent.start();
    agent.onFatal((err) => fail(err, EXIT_CAPTURE_LOST));
    if (process.env.HEIMDALL_UP_CHILD === '1') tellUpCapturing();
  } else if (cmd === 'up') {
    const { runUp } = await import('./up.ts');
    await runUp(runUntilSignal);
  }
}

/** Under `up`, fd 3 is a pipe `up` waits on before it opens the UI (up.ts, READY_FD): one line
 * once capturing, then closed. */
function tellUpCapturing(): void {
  try {
    writeSync(3, 'capturing\n');
    closeSync(3);
  } catch {
    // no such pipe: `up` is gone
  }
}

main(process.argv.slice(2)).catch(fail);
