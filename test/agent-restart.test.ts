// The server goes away for 5 seconds while traffic runs: the agent queues and retries with
// the same batch ids, so everything sent while it was down arrives, and arrives once.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetchAll, ROOT_SKIP, startStack, type Stack } from './helpers/stack.ts';
import { waitFor } from './helpers/server.ts';

let stack: Stack;
let target: http.Server;

before(async () => {
  if (ROOT_SKIP) return;
  stack = await startStack({ AGENT_BATCH_SIZE: '50', AGENT_MAX_QUEUE: '5000' });
  target = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
});

after(async () => {
  target?.close();
  target?.closeAllConnections();
  await stack?.stop();
});

test('a server restart loses nothing that fits in the queue and stores nothing twice', { skip: ROOT_SKIP, timeout: 120_000 }, async () => {
  const port = (target.address() as AddressInfo).port;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  let sent = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      await new Promise<void>((resolve, reject) =>
        http.get(`http://127.0.0.1:${port}/restart/${sent}`, { agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        }).on('error', reject),
      );
      sent++;
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(await stack.server.stop('SIGTERM'), 0);
  const sentBeforeDown = sent;
  await new Promise((r) => setTimeout(r, 5000));
  const sentWhileDown = sent - sentBeforeDown;
  await stack.startServer();
  await new Promise((r) => setTimeout(r, 1500));
  running = false;
  await loop;
  agent.destroy();
  assert.ok(sentWhileDown > 50, `traffic ran while the server was down (${sentWhileDown})`);

  let items: Awaited<ReturnType<typeof fetchAll>> = [];
  await waitFor(async () => {
    items = (await fetchAll(stack.base, 'path=/restart/&role=server')).filter((i) => i.path.startsWith('/restart/'));
    return items.length >= sent;
  }, 30_000, `${sent} exchanges`).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 1000));
  items = (await fetchAll(stack.base, 'path=/restart/&role=server')).filter((i) => i.path.startsWith('/restart/'));
  const paths = new Map<string, number>();
  for (const i of items) paths.set(i.path, (paths.get(i.path) ?? 0) + 1);
  const missing = Array.from({ length: sent }, (_, i) => `/restart/${i}`).filter((p) => !paths.has(p));
  const dup = [...paths].filter(([, n]) => n > 1);
  assert.deepEqual(missing, [], `${missing.length} of ${sent} missing`);
  assert.deepEqual(dup, [], 'stored twice');
  assert.match(stack.agent.output(), /send_failures=[1-9]/);
});
