// Real eBPF capture of real traffic on 127.0.0.1: nginx and a Node server, answered to
// curl and Node clients. Every exchange sent must appear once per side, with the right
// method, path, status and role; no secret may reach the server.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { promisify } from 'node:util';
import { startNginx, type Nginx } from './helpers/nginx.ts';
import { fetchAll, ROOT_SKIP, startStack, type Item, type Stack } from './helpers/stack.ts';
import { waitFor } from './helpers/server.ts';

const run = promisify(execFile);
let stack: Stack;
let nginx: Nginx;
let node: http.Server;
let nodePort = 0;
const expected = new Map<string, number>(); // "role method path status" → count

function expect(role: 'server' | 'client', method: string, path: string, status: number, n = 1) {
  const k = `${role} ${method} ${path} ${status}`;
  expected.set(k, (expected.get(k) ?? 0) + n);
}
/** Both sides are on this node, so every exchange is seen twice. */
function expectBoth(method: string, path: string, status: number, n = 1) {
  expect('server', method, path, status, n);
  expect('client', method, path, status, n);
}

before(async () => {
  if (ROOT_SKIP) return;
  stack = await startStack({ AGENT_HTTP_SAMPLE_BYTES: '512' });
  nginx = await startNginx();
  node = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (url.pathname.startsWith('/n/chunked')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first\n');
        res.write('x'.repeat(5000));
        setTimeout(() => res.end('last\n'), 20);
      } else if (url.pathname.startsWith('/n/large')) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(Buffer.alloc(1024 * 1024, 0x62));
      } else if (url.pathname.startsWith('/n/echo')) {
        res.writeHead(201, { 'content-type': 'application/json', 'set-cookie': 'sid=SUPERSECRET4; HttpOnly' });
        res.end(body);
      } else if (url.pathname.startsWith('/n/status/')) {
        res.writeHead(Number(url.pathname.split('/')[3]));
        res.end();
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('node ok\n');
      }
    });
  });
  await new Promise<void>((r) => node.listen(0, '127.0.0.1', r));
  nodePort = (node.address() as net.AddressInfo).port;
});

after(async () => {
  nginx?.stop();
  node?.close();
  node?.closeAllConnections();
  await stack?.stop();
});

const ng = (p: string) => `http://127.0.0.1:${nginx.port}${p}`;
const nd = (p: string) => `http://127.0.0.1:${nodePort}${p}`;

test('captures every exchange of real traffic, both sides, once', { skip: ROOT_SKIP, timeout: 120_000 }, async () => {
  const startedMs = Date.now();
  // keep-alive: one curl, one connection, four requests
  await run('curl', ['-sS', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', ng('/t/ok/ka/1'), ng('/t/ok/ka/2'), ng('/t/created/ka/3'), ng('/t/missing/ka/4')]);
  expectBoth('GET', '/t/ok/ka/1', 200);
  expectBoth('GET', '/t/ok/ka/2', 200);
  expectBoth('GET', '/t/created/ka/3', 201);
  expectBoth('GET', '/t/missing/ka/4', 404);

  // HTTP/1.0, HEAD, 204, 500
  await run('curl', ['-sS', '-o', '/dev/null', '--http1.0', ng('/t/ok/h10')]);
  expectBoth('GET', '/t/ok/h10', 200);
  await run('curl', ['-sS', '-o', '/dev/null', '-I', ng('/t/ok/head')]);
  expectBoth('HEAD', '/t/ok/head', 200);
  await run('curl', ['-sS', '-o', '/dev/null', ng('/t/empty/204')]);
  expectBoth('GET', '/t/empty/204', 204);
  await run('curl', ['-sS', '-o', '/dev/null', ng('/t/fail/500')]);
  expectBoth('GET', '/t/fail/500', 500);

  // pipelined: three requests in one write from a raw socket
  await new Promise<void>((resolve, reject) => {
    const s = net.connect(nginx.port, '127.0.0.1', () => {
      s.write(
        'GET /t/ok/pipe/1 HTTP/1.1\r\nHost: p\r\n\r\n' +
          'GET /t/created/pipe/2 HTTP/1.1\r\nHost: p\r\n\r\n' +
          'GET /t/missing/pipe/3 HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n',
      );
    });
    s.resume();
    s.on('end', resolve);
    s.on('error', reject);
  });
  expectBoth('GET', '/t/ok/pipe/1', 200);
  expectBoth('GET', '/t/created/pipe/2', 201);
  expectBoth('GET', '/t/missing/pipe/3', 404);

  // POST with a 100 KB body; a large response sent with sendfile
  await run('curl', ['-sS', '-o', '/dev/null', '-X', 'POST', '--data-binary', 'a'.repeat(100_000), '-H', 'Content-Type: text/plain', ng('/t/post/1')]);
  expectBoth('POST', '/t/post/1', 200);
  await run('curl', ['-sS', '-o', '/dev/null', '-H', 'Expect:', '-X', 'POST', '--data-binary', 'b'.repeat(100_000), '-H', 'Content-Type: text/plain', nd('/n/echo/big')]);
  expectBoth('POST', '/n/echo/big', 201);
  await run('curl', ['-sS', '-o', '/dev/null', ng('/big.bin')]);
  expectBoth('GET', '/big.bin', 200);

  // Node server: chunked, large body, HEAD, status codes; secrets in query, headers and body
  await run('curl', ['-sS', '-o', '/dev/null', nd('/n/chunked')]);
  expectBoth('GET', '/n/chunked', 200);
  await run('curl', ['-sS', '-o', '/dev/null', nd('/n/large')]);
  expectBoth('GET', '/n/large', 200);
  await run('curl', ['-sS', '-o', '/dev/null', '-I', nd('/n/head')]);
  expectBoth('HEAD', '/n/head', 200);
  await run('curl', ['-sS', '-o', '/dev/null', nd('/n/status/204'), nd('/n/status/404'), nd('/n/status/503')]);
  expectBoth('GET', '/n/status/204', 204);
  expectBoth('GET', '/n/status/404', 404);
  expectBoth('GET', '/n/status/503', 503);
  await run('curl', ['-sS', '-o', '/dev/null', ng('/t/ok/secret?token=SUPERSECRET1&page=2'), '-H', 'Authorization: Bearer SUPERSECRET2', '-H', 'Cookie: s=SUPERSECRET3']);
  expectBoth('GET', '/t/ok/secret', 200);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
  await new Promise<void>((resolve, reject) => {
    const req = http.request(nd('/n/echo?password=SUPERSECRET5'), { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end(JSON.stringify({ user: 'u', password: 'SUPERSECRET6' }));
  });
  expectBoth('POST', '/n/echo', 201);

  // 50 concurrent keep-alive connections, 200 requests
  await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      new Promise<void>((resolve, reject) => {
        http.get(ng(`/t/ok/conc/${i}`), { agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        }).on('error', reject);
      }),
    ),
  );
  agent.destroy();
  for (let i = 0; i < 200; i++) expectBoth('GET', `/t/ok/conc/${i}`, 200);

  const total = [...expected.values()].reduce((a, b) => a + b, 0);
  const grab = async () => [...(await fetchAll(stack.base, 'path=/t/')), ...(await fetchAll(stack.base, 'path=/n/')), ...(await fetchAll(stack.base, 'path=/big.bin'))];
  let items: Item[] = [];
  await waitFor(async () => {
    items = await grab();
    return items.length >= total;
  }, 30_000, `${total} exchanges in /api/logs`).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 1000)); // anything arriving late would be a duplicate
  items = await grab();

  const got = new Map<string, number>();
  for (const i of items) {
    const k = `${i.role} ${i.method} ${i.path} ${i.status}`;
    got.set(k, (got.get(k) ?? 0) + 1);
  }
  const missing = [...expected].filter(([k, n]) => got.get(k) !== n).map(([k, n]) => `${k}: expected ${n}, got ${got.get(k) ?? 0}`);
  const extra = [...got].filter(([k]) => !expected.has(k)).map(([k, n]) => `${k}: unexpected ×${n}`);
  assert.deepEqual([...missing, ...extra], [], 'every exchange exactly once');
  assert.equal(new Set(items.map((i) => i.id)).size, items.length);
  for (const i of items) {
    assert.ok(i.duration_ms > 0, `${i.role} ${i.path} duration ${i.duration_ms}`);
    const ts = Date.parse(i.timestamp);
    assert.ok(ts >= startedMs - 1000 && ts <= Date.now(), `timestamp ${i.timestamp} is wall-clock time of the request`);
    assert.equal(i.unmatched, false);
    assert.equal(i.node, 'e2e-node');
  }
  const by = (role: string, path: string) => items.find((i) => i.role === role && i.path === path)!;
  assert.equal(by('server', '/t/ok/ka/1').process, 'nginx');
  assert.equal(by('client', '/t/ok/ka/1').process, 'curl');
  assert.equal(by('server', '/n/chunked').process, 'node');
  assert.equal(by('server', '/t/ok/h10').http_version, '1.0');
  assert.ok(by('server', '/big.bin').response_bytes > 1024 * 1024, 'sendfile bytes counted');
  assert.ok(by('client', '/n/large').response_bytes > 1024 * 1024);
  assert.ok(by('server', '/n/echo/big').request_bytes > 100_000, 'request body bytes counted');
  assert.ok(by('client', '/n/echo/big').response_bytes > 100_000, 'echoed body counted');
  assert.equal(by('server', '/t/ok/secret').query, 'token=REDACTED&page=2');
  assert.match(by('server', '/t/ok/ka/1').request_sample, /^GET \/t\/ok\/ka\/1 HTTP\/1.1\r\nHost: 127.0.0.1/);
  assert.match(by('client', '/n/chunked').response_sample, /^HTTP\/1.1 200 OK\r\n/);

  // No secret reaches the server: not in records, not in samples, not in detail views.
  const everything = JSON.stringify(items);
  const details = await Promise.all(items.filter((i) => /secret|echo/.test(i.path)).map(async (i) => (await fetch(`${stack.base}/api/logs/${i.id}`)).text()));
  for (const d of details) for (const b64 of d.matchAll(/"(request|response)_sample_base64":"([^"]*)"/g)) assert.ok(!Buffer.from(b64[2], 'base64').toString('latin1').includes('SUPERSECRET'));
  assert.ok(!everything.includes('SUPERSECRET'), 'a secret leaked: ' + (everything.match(/.{80}SUPERSECRET.{20}/)?.[0] ?? ''));
  assert.ok(!details.join('').includes('SUPERSECRET'));
});

test('diagnostics reach the server', { skip: ROOT_SKIP, timeout: 30_000 }, async () => {
  const agents = await waitFor(async () => {
    const r = (await (await fetch(`${stack.base}/api/agents`)).json()) as { agents: { node: string; capture_status: string; totals: Record<string, number> }[] };
    const a = r.agents.find((x) => x.node === 'e2e-node' && x.totals.events > 0);
    return a ?? null;
  }, 20_000, 'agent diagnostics');
  assert.equal(agents.capture_status, 'running');
  assert.ok(agents.totals.matched > 0);
  assert.match(stack.agent.output(), /diagnostics events=\d+ matched=\d+ unmatched=\d+ drops=\d+ send_failures=\d+ kernel_drops=\d+/);
});

test('bodies moved with splice (zero-copy proxies) keep keep-alive framing exact', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  // A Python server that sends each body from a pipe with os.splice, as haproxy does.
  const py = `
import os, socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', 0)); s.listen()
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    while True:
        req = c.recv(65536)
        if not req: break
        body = b'x' * 100000
        c.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n' % len(body))
        r, w = os.pipe()
        sent = 0
        while sent < len(body):
            n = os.write(w, body[sent:sent + 65536])
            left = n
            while left: left -= os.splice(r, c.fileno(), left)
            sent += n
        os.close(r); os.close(w)
    c.close()
`;
  const { spawn } = await import('node:child_process');
  const child = spawn('python3', ['-c', py], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  try {
    await run('curl', ['-sS', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', `http://127.0.0.1:${port}/splice/1`, `http://127.0.0.1:${port}/splice/2`, `http://127.0.0.1:${port}/splice/3`]);
    const items = await waitFor(async () => {
      const xs = await fetchAll(stack.base, 'path=/splice/&role=server');
      return xs.length >= 3 ? xs : null;
    }, 20_000, 'three server-side records');
    assert.deepEqual(items.map((i) => [i.path, i.status]).sort(), [['/splice/1', 200], ['/splice/2', 200], ['/splice/3', 200]]);
    for (const i of items) assert.ok(i.response_bytes > 100_000, `${i.path}: ${i.response_bytes} bytes`);
  } finally {
    child.kill();
  }
});
