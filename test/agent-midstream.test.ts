// The agent starts while keep-alive connections are already carrying traffic (Heimdall
// installed on a busy node): from the first request it sees whole, every exchange on those
// connections is recorded, with no unmatched or garbled records from the half-seen one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fetchAll, ROOT_SKIP, startStack, type Item } from './helpers/stack.ts';
import { waitFor } from './helpers/server.ts';

// Server and client in their own process, so their connection predates the agent. Bodies
// of 3-5 KB make the agent's first view of the connection land anywhere in a message.
const TRAFFIC = `
const http = require('node:http');
const srv = http.createServer((req, res) => { req.resume(); req.on('end', () => res.end('x'.repeat(5000))); });
srv.listen(0, '127.0.0.1', () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let i = 0;
  let stop = false;
  process.stdin.on('data', () => (stop = true));
  const tick = () => {
    if (stop || i === Number(process.argv[1])) { process.stdout.write(String(i)); return process.exit(0); }
    const n = i++;
    const req = http.request({ port: srv.address().port, path: '/midstream/' + n, method: n % 3 ? 'GET' : 'POST', agent }, (res) => {
      res.resume();
      res.on('end', () => setTimeout(tick, 20));
    });
    req.end(n % 3 ? undefined : 'y'.repeat(3000));
  };
  tick();
});`;

/**
 * Runs `script` (its own process, so its connection predates the agent) with requests under
 * `/<prefix>/<n>`, starts the agent a second in, stops the traffic once the agent has captured
 * for a few seconds (however long its probe took to load), and checks that each side recorded
 * every request from its first one seen, contiguously and once. Returns the records.
 */
async function midstream(script: string, prefix: string): Promise<Item[]> {
  const traffic = spawn(process.execPath, ['-e', script, '5000'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let made = '';
  traffic.stdout!.on('data', (d: Buffer) => (made += d.toString()));
  const exited = new Promise((r) => traffic.on('exit', r));
  await new Promise((r) => setTimeout(r, 1000)); // ~40 exchanges before the agent exists
  const stack = await startStack();
  try {
    await new Promise((r) => setTimeout(r, 4000)); // ~150 exchanges the agent sees
    traffic.stdin!.end('stop\n');
    await exited;
    const total = Number(made);
    assert.ok(total > 0, `the traffic said it made ${JSON.stringify(made)} requests`);
    const last = `/${prefix}/${total - 1}`;
    const xs = await waitFor(async () => {
      const got = await fetchAll(stack.base, `path=/${prefix}/`);
      return got.some((x) => x.path === last && x.role === 'server') && got.some((x) => x.path === last && x.role === 'client') ? got : null;
    }, 20_000, 'the last exchange on both sides');
    for (const role of ['server', 'client']) {
      const seen = xs.filter((x) => x.role === role).map((x) => Number(x.path.split('/')[2])).sort((a, b) => a - b);
      assert.ok(seen.length > 50, `${role}: ${seen.length} records`);
      const first = seen[0];
      assert.deepEqual(seen, Array.from({ length: total - first }, (_, i) => first + i), `${role}: contiguous from ${first}, each once`);
    }
    return xs;
  } finally {
    traffic.kill();
    await stack.stop();
  }
}

test('an agent started mid-connection records every exchange after its first', { skip: ROOT_SKIP, timeout: 120_000 }, async () => {
  for (const x of await midstream(TRAFFIC, 'midstream')) {
    assert.equal(x.status, 200, x.path);
    assert.equal(x.unmatched, false, x.path);
    assert.equal(x.method, Number(x.path.split('/')[2]) % 3 ? 'GET' : 'POST', x.path);
  }
});

// HTTP/2 the same way: the preface went by before the agent, so its header tables are unknown.
// Node's encoder (nghttp2) never indexes :path, and these statuses are in HPACK's static table,
// so every request after the agent's first whole HEADERS frame can be told in full.
const H2_TRAFFIC = `
const http2 = require('node:http2');
const STATUS = [200, 204, 404, 500];
const srv = http2.createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(STATUS[Number(req.url.split('/')[2]) % 4]).end(res.statusCode === 204 ? undefined : 'x'.repeat(3000))); });
srv.listen(0, '127.0.0.1', () => {
  const s = http2.connect('http://127.0.0.1:' + srv.address().port);
  let i = 0;
  let stop = false;
  process.stdin.on('data', () => (stop = true));
  const tick = () => {
    if (stop || i === Number(process.argv[1])) { process.stdout.write(String(i)); return process.exit(0); }
    const n = i++;
    const req = s.request({ ':path': '/h2mid/' + n, ':method': n % 3 ? 'GET' : 'POST' });
    req.on('data', () => {});
    req.on('end', () => setTimeout(tick, 20));
    req.end(n % 3 ? undefined : 'y'.repeat(2000));
  };
  tick();
});`;

test('HTTP/2 opened before the agent: picked up at a request\'s headers, every exchange after it recorded', { skip: ROOT_SKIP, timeout: 120_000 }, async () => {
  for (const x of await midstream(H2_TRAFFIC, 'h2mid')) {
    const n = Number(x.path.split('/')[2]);
    assert.equal(x.http_version, '2', x.path);
    assert.equal(x.status, [200, 204, 404, 500][n % 4], x.path);
    assert.equal(x.unmatched, false, x.path);
    assert.equal(x.method, n % 3 ? 'GET' : 'POST', x.path);
  }
});
