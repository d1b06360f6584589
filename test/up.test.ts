// `heimdall up`: server + local agent in one command. An agent that cannot start must not
// take the server down; the log says what is missing, and the UI/API keep working.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from './helpers/nginx.ts';
import { runHeimdall } from './helpers/process.ts';
import { waitFor } from './helpers/server.ts';
import { ROOT_SKIP } from './helpers/stack.ts';
import { tempDir } from './helpers/temp-dir.ts';

async function up(env: Record<string, string>) {
  const httpPort = await freePort();
  const grpcPort = await freePort();
  const proc = runHeimdall(['up'], { HEIMDALL_DATA_DIR: tempDir('heimdall-up-'), HTTP_PORT: String(httpPort), PORT: String(grpcPort), HEIMDALL_LISTEN_HOST: '127.0.0.1', AGENT_FLUSH_INTERVAL: '200ms', ...env });
  await proc.waitForOutput(/Heimdall is up: UI and API at http:\/\/127\.0\.0\.1:\d+/, 60_000);
  return { proc, base: `http://127.0.0.1:${httpPort}` };
}

test('an agent that cannot capture leaves the server, API and UI running, and says why', { timeout: 90_000 }, async () => {
  const { proc, base } = await up({ HEIMDALL_PUMP_PATH: '/nonexistent/heimdall-pump' });
  try {
    await proc.waitForOutput(/the agent is not running; the server, API and UI keep working/, 30_000);
    assert.match(proc.output(), /heimdall-pump is not built; run "npm run build"|must run as root/);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/api/logs`)).status, 200);
    assert.match(await (await fetch(`${base}/`)).text(), /<div id="root">/);
    // The server learned why this node has no data.
    const agents = await waitFor(async () => {
      const r = (await (await fetch(`${base}/api/agents`)).json()) as { agents: { capture_status: string }[] };
      return r.agents.length ? r.agents : null;
    }, 10_000, 'the failed agent to report');
    assert.match(agents[0].capture_status, /not built|root/);
  } finally {
    assert.equal(await proc.stop(), 0);
  }
});

test('up captures local traffic from the moment its UI answers, never its own server nor its UI\'s polling', { skip: ROOT_SKIP, timeout: 90_000 }, async () => {
  const { proc, base } = await up({});
  try {
    // No wait for the agent's "capturing": the UI opens only once it captures.
    assert.match(proc.output(), /capturing HTTP/);
    // The UI's own polling (marked X-Heimdall-UI) is not recorded; other local clients are.
    await (await fetch(`${base}/healthz?ui=1`, { headers: { 'x-heimdall-ui': '1' } })).text();
    for (let i = 0; i < 5; i++) await (await fetch(`${base}/healthz?n=${i}`)).text();
    const items = await waitFor(async () => {
      const r = (await (await fetch(`${base}/api/logs?path=/healthz`)).json()) as { items: { role: string; process: string }[] };
      return r.items.length >= 5 ? r.items : null;
    }, 20_000, 'client-side records of /healthz');
    // This test process is the client; the server's own side is excluded in the kernel.
    assert.ok(items.every((i) => i.role === 'client'), JSON.stringify(items.map((i) => i.role)));
    assert.equal(items.length, 5, 'the UI-marked request is not among them');
  } finally {
    assert.equal(await proc.stop(), 0);
  }
});

test('stopping up stores what its agent had captured and not yet sent', { skip: ROOT_SKIP, timeout: 120_000 }, async () => {
  const dataDir = tempDir('heimdall-up-');
  // Nothing leaves the agent before the stop: no batch fills, and the flush timer is far off.
  const { proc, base } = await up({ HEIMDALL_DATA_DIR: dataDir, AGENT_FLUSH_INTERVAL: '10m' });
  try {
    await proc.waitForOutput(/capturing HTTP/, 30_000);
    for (let i = 0; i < 7; i++) await (await fetch(`${base}/healthz?stop-flush=${i}`)).text();
    await new Promise((r) => setTimeout(r, 1500)); // the agent reads the ring at least every 50 ms
  } finally {
    // As a terminal's Ctrl-C: `up` stops its agent (which flushes) before its server.
    assert.equal(await proc.stop('SIGINT'), 0);
  }
  assert.doesNotMatch(proc.output(), /sending failed/);
  const httpPort = await freePort();
  const server = runHeimdall(['server'], { HEIMDALL_DATA_DIR: dataDir, HTTP_PORT: String(httpPort), PORT: String(await freePort()), HEIMDALL_LISTEN_HOST: '127.0.0.1' });
  try {
    await server.waitForOutput(/server started/, 60_000);
    const r = (await (await fetch(`http://127.0.0.1:${httpPort}/api/logs?path=/healthz`)).json()) as { items: { query: string }[] };
    assert.deepEqual(r.items.map((i) => i.query).sort(), Array.from({ length: 7 }, (_, i) => `stop-flush=${i}`));
  } finally {
    await server.stop();
  }
});

test('a pump that dies is reported with its cause, and up starts a new agent that captures again', { skip: ROOT_SKIP, timeout: 120_000 }, async () => {
  const { proc, base } = await up({});
  try {
    await proc.waitForOutput(/capturing HTTP.*pump_pid=(\d+)/, 30_000);
    const pump = Number(/pump_pid=(\d+)/.exec(proc.output())![1]);
    process.kill(pump, 'SIGKILL');
    // The pump detaches its probes as it exits (seconds): the agent hears of it after that.
    await proc.waitForOutput(/eBPF capture stopped \(exit SIGKILL\): the pump was killed by SIGKILL/, 30_000);
    await waitFor(async () => ([...proc.output().matchAll(/capturing HTTP/g)].length >= 2 ? true : null), 30_000, 'a new agent capturing');
    for (let i = 0; i < 3; i++) await (await fetch(`${base}/healthz?after-pump-death=${i}`)).text();
    await waitFor(async () => {
      const r = (await (await fetch(`${base}/api/logs?path=/healthz`)).json()) as { items: { query: string }[] };
      return r.items.filter((x) => x.query.startsWith('after-pump-death')).length === 3 ? true : null;
    }, 20_000, 'records made after the restart');
  } finally {
    assert.equal(await proc.stop(), 0);
  }
});
