// When the agent falls behind, the kernel's ring buffer fills and records are lost. A lost
// record leaves a hole in a connection's byte stream; pairing across it would give a
// request the next one's response. Here the pump is paused (SIGSTOP) while keep-alive
// connections carry thousands of exchanges, so the ring buffer really overflows: no stored
// exchange may carry another's status, and capture must recover fully afterwards.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import type { AddressInfo } from 'node:net';
import { numberedGrpc } from './helpers/grpc.ts';
import { fetchAll, ROOT_SKIP, startStack, type Stack } from './helpers/stack.ts';
import { waitFor } from './helpers/server.ts';

let stack: Stack;
let srv: http.Server;
const BODY = 'x'.repeat(3000); // each response fills a whole capture window
// Each path's own status, so a request paired with a neighbour's response shows.
const statusOf = (path: string) => 200 + (Number(path.split('-').pop()) % 7);

before(async () => {
  if (ROOT_SKIP) return;
  stack = await startStack({ AGENT_DIAGNOSTICS_INTERVAL: '500ms' });
  srv = http.createServer((req, res) => {
    res.writeHead(statusOf(req.url!), { 'content-type': 'text/plain' });
    res.end(BODY);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
});

after(async () => {
  srv?.closeAllConnections();
  srv?.close();
  await stack?.stop();
});

let completed = 0;

async function requests(agent: http.Agent, prefix: string, n: number, sockets: number): Promise<void> {
  const port = (srv.address() as AddressInfo).port;
  let next = 0;
  await Promise.all(
    Array.from({ length: sockets }, async () => {
      while (next < n) {
        const i = next++;
        await new Promise<void>((resolve, reject) => {
          http.get({ host: '127.0.0.1', port, path: `${prefix}-${i}`, agent }, (res) => {
            res.resume();
            res.on('end', () => {
              completed++;
              resolve();
            });
          }).on('error', reject);
        });
      }
    }),
  );
}

const kernelDrops = () => Number([...stack.agent.output().matchAll(/kernel_drops=(\d+)/g)].pop()?.[1] ?? 0);

test('a ring-buffer overflow never pairs a request with another one\'s response', { skip: ROOT_SKIP, timeout: 120_000 }, async () => {
  const pump = Number(execFileSync('pgrep', ['-P', String(stack.agent.child.pid), '-f', 'heimdall-pump'], { encoding: 'utf8' }).trim().split('\n')[0]);
  assert.ok(pump > 0, 'the pump runs as a child of the agent');
  // The same keep-alive connections carry traffic before, during and after the overflow,
  // so each has a hole in the middle of its stream.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const burst = requests(agent, '/loss/burst', 8000, 4);
  await new Promise((r) => setTimeout(r, 300));
  process.kill(pump, 'SIGSTOP');
  // 3,000 exchanges seen from both sides are ~14 MB of records: more than the 8 MiB ring holds.
  const stoppedAt = completed;
  await waitFor(async () => {
    await new Promise((r) => setTimeout(r, 50));
    return completed - stoppedAt >= 3000;
  }, 60_000, '3,000 requests while the pump is stopped').finally(() => process.kill(pump, 'SIGCONT'));
  await burst;
  // The backlog drains before the next phase: until then the ring may still overflow.
  let last = -1;
  await waitFor(async () => {
    await new Promise((r) => setTimeout(r, 1500));
    const now = kernelDrops();
    const stable = now === last;
    last = now;
    return stable;
  }, 30_000, 'kernel drops to stop growing');
  await requests(agent, '/loss/after', 200, 4);
  agent.destroy();
  const after = await waitFor(async () => {
    const xs = await fetchAll(stack.base, 'path=/loss/after-');
    return xs.length >= 400 ? xs : null;
  }, 30_000, 'both sides of the 200 requests made after the overflow');
  assert.equal(after.length, 400, 'each once per side');
  for (const x of after) {
    assert.equal(x.unmatched, false, x.path);
    assert.equal(x.status, statusOf(x.path), x.path);
  }

  assert.ok(kernelDrops() > 0, 'the ring buffer overflowed (kernel_drops > 0)');
  const stored = await fetchAll(stack.base, 'path=/loss/burst-');
  const paired = stored.filter((x) => !x.unmatched);
  assert.ok(paired.length > 0, 'some of the burst was captured');
  const wrong = paired.filter((x) => x.status !== statusOf(x.path));
  assert.deepEqual(wrong.slice(0, 5).map((x) => `${x.role} ${x.path} → ${x.status}`), [], `${wrong.length} of ${paired.length} exchanges carry another request's status`);
  assert.match(stack.agent.output(), /resyncs=[1-9]/, 'the agent restarted the connections that lost records');
});

test('HTTP/1 filling the ring leaves HTTP/2 whole: every gRPC call before, during and after keeps its grpc-status', { skip: ROOT_SKIP, timeout: 120_000 }, async () => {
  // The ring's last quarter is kept for HTTP/2, and under pressure an HTTP/2 record carries
  // only its frames: a lost HTTP/2 record would cost the channel its header tables, so every
  // later grpc-status (a table entry) would be unknown for the channel's life.
  const g = await numberedGrpc('/heimdall.test.Loss/Call', (n) => 1500 + (n % 3) * 500);
  const calls = (count: number) => g.calls(count, 5);
  const drops0 = kernelDrops();
  try {
    await calls(50);
    const pump = Number(execFileSync('pgrep', ['-P', String(stack.agent.child.pid), '-f', 'heimdall-pump'], { encoding: 'utf8' }).trim().split('\n')[0]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const burst = requests(agent, '/loss2/burst', 8000, 4);
    await new Promise((r) => setTimeout(r, 300));
    process.kill(pump, 'SIGSTOP');
    const stoppedAt = completed;
    try {
      // 3,000 exchanges seen from both sides are ~14 MB of records: the ring (8 MiB) is as full
      // as HTTP/1 may make it, and HTTP/1 keeps coming while the calls run.
      await waitFor(async () => {
        await new Promise((r) => setTimeout(r, 20));
        return completed - stoppedAt >= 3000;
      }, 60_000, '3,000 requests while the pump is stopped');
      await calls(50);
    } finally {
      process.kill(pump, 'SIGCONT');
    }
    await burst;
    agent.destroy();
    await calls(50);
  } finally {
    g.close();
  }
  await waitFor(async () => {
    await new Promise((r) => setTimeout(r, 250));
    return kernelDrops() > drops0;
  }, 10_000, 'the ring buffer to overflow again (kernel_drops)');
  const want = { ok: g.codes.get(0) ?? 0, notFound: g.codes.get(grpc.status.NOT_FOUND) ?? 0, none: 0 };
  assert.deepEqual([want.ok, want.notFound], [120, 30]);
  const xs = await waitFor(async () => {
    const got = await fetchAll(stack.base, 'path=%2Fheimdall.test.Loss%2FCall');
    return got.length >= 300 ? got : null;
  }, 30_000, 'both sides of 150 gRPC calls');
  for (const role of ['client', 'server']) {
    const mine = xs.filter((x) => x.role === role);
    const by = (g: string) => mine.filter((x) => x.grpc_status === g).length;
    assert.deepEqual({ ok: by('0'), notFound: by('5'), none: by('') }, want, role);
  }
});
