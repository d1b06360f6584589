// HTTP as it is in the wild, beyond the basics: IPv6, HTTP/1.0 servers that end bodies by
// closing, headers larger than the capture window, protocol upgrades, chunked uploads,
// "Expect: 100-continue" uploads, a reverse proxy in front of a backend, Java's HTTP stack,
// requests written a few bytes at a time, heads gathered from dozens of iovecs, processes
// named by their main thread, servers whose children exit instead of closing, plain HTTP
// through a proxy's CONNECT tunnel.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { fetchAll, ROOT_SKIP, startStack, type Stack, waitForRecords } from './helpers/stack.ts';
import { waitFor } from './helpers/server.ts';
import { freePort, startNginx, type Nginx } from './helpers/nginx.ts';
import { tempDir } from './helpers/temp-dir.ts';
import { runHeimdall } from './helpers/process.ts';
import { startConnectProxy } from './helpers/connect-proxy.ts';

const run = promisify(execFile);
let stack: Stack;
let v6: http.Server;
let py: ChildProcess;
let pyPort = 0;
let proxy: Nginx;

before(async () => {
  if (ROOT_SKIP) return;
  stack = await startStack({ AGENT_HTTP_SAMPLE_BYTES: '256' });
  v6 = http.createServer((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => res.end(`got ${n}\n`));
  });
  v6.on('upgrade', (req, socket: net.Socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    socket.on('data', (d: Buffer) => socket.write(d)); // echo frames
  });
  await new Promise<void>((r) => v6.listen(0, '::1', r));
  py = spawn('python3', ['-u', '-c', "import http.server,socketserver\nclass H(http.server.SimpleHTTPRequestHandler):\n  def log_message(self,*a): pass\ns=http.server.HTTPServer(('127.0.0.1',0),H)\nprint(s.server_address[1],flush=True)\ns.serve_forever()"], { stdio: ['ignore', 'pipe', 'inherit'], cwd: '/' });
  pyPort = await new Promise<number>((resolve) => py.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  proxy = await startNginx({ proxyTo: `[::1]:${(v6.address() as net.AddressInfo).port}` });
});

after(async () => {
  proxy?.stop();
  py?.kill();
  v6?.close();
  v6?.closeAllConnections();
  await stack?.stop();
});

const v6url = (p: string) => `http://[::1]:${(v6.address() as net.AddressInfo).port}${p}`;
const records = (filter: string, n: number, what: string) => waitForRecords(stack.base, filter, n, what);
const server = (prefix: string, n: number) => records(`path=${encodeURIComponent(prefix)}&role=server`, n, `${n} server-side records under ${prefix}`);

test('IPv6 loopback', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  await run('curl', ['-sS', '-g', '-o', '/dev/null', v6url('/wild/v6')]);
  const [x] = await server('/wild/v6', 1);
  assert.equal(x.status, 200);
  const d = (await (await fetch(`${stack.base}/api/logs/${x.id}`)).json()) as { dst_ip: string; src_ip: string };
  assert.equal(d.dst_ip, '::1');
  assert.equal(d.src_ip, '::1');
});

test('HTTP/1.0 server that ends the body by closing (Python http.server)', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  await run('curl', ['-sS', '-o', '/dev/null', `http://127.0.0.1:${pyPort}/etc/hostname?wild=py`, `http://127.0.0.1:${pyPort}/nope-wild`]);
  const xs = await server('/', 2).then(() => fetchAll(stack.base, 'role=server&process=python3'));
  const byPath = new Map(xs.map((x) => [x.path, x]));
  assert.equal(byPath.get('/etc/hostname')?.status, 200);
  assert.equal(byPath.get('/nope-wild')?.status, 404);
  assert.equal(byPath.get('/etc/hostname')?.http_version, '1.1'); // the request's version
  assert.match(byPath.get('/etc/hostname')!.response_sample, /^HTTP\/1.0 200 OK/);
});

test('headers larger than the capture window; secrets in them stay out', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  const big = 'c=' + 'SECRETCOOKIE'.repeat(600);
  await run('curl', ['-sS', '-g', '-o', '/dev/null', '-H', `Cookie: ${big}`, '-H', 'X-Trace: 1', v6url('/wild/bighead'), v6url('/wild/after-bighead')]);
  const xs = await server('/wild/', 3);
  const bighead = xs.filter((x) => x.path === '/wild/bighead');
  assert.equal(bighead.length, 1);
  assert.equal(bighead[0].status, 200);
  // The head ran past the capture window: its size still counts every byte sent.
  assert.ok(bighead[0].request_bytes > big.length, `request_bytes ${bighead[0].request_bytes}`);
  assert.equal(bighead[0].request_truncated, true);
  assert.equal(xs.filter((x) => x.path === '/wild/after-bighead').length, 1, 'the next request on the connection still pairs');
  const all = JSON.stringify(await fetchAll(stack.base, 'path=/wild/'));
  assert.ok(!all.includes('SECRETCOOKIE'));
});

test('an upgraded connection yields the 101 exchange and no noise after it', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  await new Promise<void>((resolve, reject) => {
    const s = net.connect((v6.address() as net.AddressInfo).port, '::1', () => {
      s.write('GET /wild/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    });
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n') && !got.includes('GET /')) {
        s.write('GET /not-http-anymore HTTP/1.1\r\n\r\n'); // looks like HTTP but is a websocket payload
        setTimeout(() => s.destroy(), 300);
      }
    });
    s.on('close', () => resolve());
    s.on('error', reject);
  });
  const xs = await server('/wild/ws', 1);
  assert.equal(xs.length, 1);
  assert.equal(xs[0].status, 101);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await fetchAll(stack.base, 'path=/not-http-anymore')).length, 0);
});

test('WebDAV, cache-purge and QUERY methods, even as a connection\'s first request', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  await run('curl', ['-sS', '-g', '-o', '/dev/null', '-X', 'PROPFIND', '-H', 'Depth: 1', v6url('/wild/dav/')]);
  await run('curl', ['-sS', '-g', '-o', '/dev/null', '-X', 'PURGE', v6url('/wild/cached')]);
  // QUERY: a safe method with a body (Node's parser knows it); the body sizes the request.
  await run('curl', ['-sS', '-g', '-o', '/dev/null', '-X', 'QUERY', '-H', 'Content-Type: application/json', '--data-raw', '{"select":"*"}', v6url('/wild/query')]);
  const [dav] = await server('/wild/dav/', 1);
  const [purge] = await server('/wild/cached', 1);
  const [query] = await server('/wild/query', 1);
  assert.deepEqual([dav.method, dav.status, purge.method, purge.status, query.method, query.status], ['PROPFIND', 200, 'PURGE', 200, 'QUERY', 200]);
  assert.ok(query.request_bytes > 14, `QUERY request_bytes ${query.request_bytes} should count its 14-byte body`);
});

test('raw UTF-8 in a query and a User-Agent is stored as the text it is', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  // curl sends both as raw UTF-8 bytes; Python's server answers 404 and keeps the connection honest.
  await run('curl', ['-sS', '-o', '/dev/null', '-A', 'Ünïcode/1.0 (日本)', `http://127.0.0.1:${pyPort}/wild-utf8?q=naïve&token=ß`]);
  const [x] = await server('/wild-utf8', 1);
  assert.equal(x.query, 'q=naïve&token=REDACTED');
  assert.equal(x.user_agent, 'Ünïcode/1.0 (日本)');
});

test('chunked request upload', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  const body = 'z'.repeat(30_000);
  await new Promise<void>((resolve, reject) => {
    const req = http.request(v6url('/wild/upload'), { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.write(body.slice(0, 10_000));
    req.write(body.slice(10_000));
    req.end();
  });
  const [x] = await server('/wild/upload', 1);
  assert.equal(x.method, 'POST');
  assert.equal(x.status, 200);
  assert.ok(x.request_bytes > 30_000, String(x.request_bytes));
});

test('"Expect: 100-continue" upload: the final status is recorded, not the 100', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  const body = Buffer.alloc(2 << 20, 0x62);
  await new Promise<void>((resolve, reject) => {
    const req = http.request(v6url('/wild/continue'), { method: 'PUT', headers: { expect: '100-continue', 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('continue', () => req.end(body));
    req.on('error', reject);
  });
  const xs = await server('/wild/continue', 1);
  assert.equal(xs.length, 1);
  assert.equal(xs[0].method, 'PUT');
  assert.equal(xs[0].status, 200);
  assert.ok(xs[0].request_bytes >= body.length, String(xs[0].request_bytes));
  assert.ok(!xs[0].unmatched);
});

test('reverse proxy: each request through nginx is four records, with roles and hosts right', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  for (let i = 0; i < 3; i++) await run('curl', ['-sS', '-o', '/dev/null', `http://127.0.0.1:${proxy.port}/proxy/item-${i}?session=s3cr3t`]);
  const xs = await records('path=/proxy/item-', 12, '12 records under /proxy/');
  assert.equal(xs.length, 12, 'nothing duplicated');
  const seen = (role: string, process: string) => xs.filter((x) => x.role === role && x.process === process).length;
  assert.equal(seen('client', 'curl'), 3);
  assert.equal(seen('server', 'nginx'), 3);
  assert.equal(seen('client', 'nginx'), 3, 'nginx calling the backend');
  assert.equal(seen('server', 'node'), 3, 'the backend answering nginx');
  for (const x of xs) {
    assert.equal(x.status, 200);
    assert.equal(x.query, 'session=REDACTED');
  }
  // nginx sends "Host: backend" upstream (the upstream block's name); the edge the map draws is curl → nginx → node.
  assert.deepEqual(new Set(xs.filter((x) => x.process === 'node' || x.role === 'client' && x.process === 'nginx').map((x) => x.host)), new Set(['backend']));
  const map = (await (await fetch(`${stack.base}/api/map`)).json()) as { edges: { source: string; target: string; requests: number }[] };
  const edge = (a: string, b: string) => map.edges.find((e) => e.source === a && e.target === b)?.requests ?? 0;
  assert.ok(edge('curl', 'nginx') >= 3, JSON.stringify(map.edges));
  assert.ok(edge('nginx', 'node') >= 3, JSON.stringify(map.edges));
});

test('requests written a few bytes at a time ("GE", "T /…"), answers read a byte at a time: both sides whole', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  // Four bytes tell HTTP from the rest; a client that sends fewer at a time (byte by byte,
  // or a request line split after "GE") had its connections go unrecorded on both ends.
  const client = `
import socket, sys, time
port, step = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(('::1', port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for k in range(3):
    body = b'q' * 40
    req = b'POST /split%d/%d?token=TOPSECRET HTTP/1.1\\r\\nHost: split\\r\\nContent-Length: %d\\r\\nUser-Agent: split-%d\\r\\n\\r\\n%s' % (step, k, len(body), step, body)
    for i in range(0, len(req), step):
        s.send(req[i:i + step])
        time.sleep(0.002)
    got = b''
    while not got.endswith(b'\\n') or b'\\r\\n\\r\\n' not in got:
        got += s.recv(1)
s.close()
`;
  for (const step of [1, 2, 3]) await run('python3', ['-c', client, String((v6.address() as net.AddressInfo).port), String(step)]);
  for (const role of ['client', 'server']) {
    const xs = await records(`path=/split&role=${role}`, 9, `${role}-side records of the split requests`);
    assert.equal(xs.length, 9, `${role}: nothing twice`);
    for (const x of xs) {
      const step = x.path.split('/')[1].slice('split'.length);
      assert.equal(x.method, 'POST', `${role} ${x.path}`);
      assert.equal(x.status, 200, `${role} ${x.path}`);
      assert.equal(x.unmatched, false, `${role} ${x.path}`);
      assert.equal(x.user_agent, `split-${step}`, `${role} ${x.path}`);
      assert.equal(x.query, 'token=REDACTED');
      assert.equal(x.request_bytes, 128 + x.path.length, `${role} ${x.path} request bytes`); // 137 for /split1/0
    }
  }
  assert.ok(!JSON.stringify(await fetchAll(stack.base, 'path=/split')).includes('TOPSECRET'));
});

test('a process is named by its main thread, not by the thread that made the call, even once it has exited', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  // gRPC's C core calls from "default-executo", Java's HttpClient from "HttpClient-1-Wo": a
  // short-lived client is gone before the agent can read /proc, and its records kept those.
  const client = `
import ctypes, http.client, sys, threading
def work():
    ctypes.CDLL(None).prctl(15, b'fetcher-thread', 0, 0, 0)
    c = http.client.HTTPConnection('::1', int(sys.argv[1]))
    for i in range(2):
        c.request('GET', '/threadname/%d' % i)
        c.getresponse().read()
t = threading.Thread(target=work)
t.start()
t.join()
`;
  await run('python3', ['-c', client, String((v6.address() as net.AddressInfo).port)]);
  const xs = await records('path=/threadname/&role=client', 2, 'client-side records of the renamed thread');
  assert.deepEqual(xs.map((x) => x.process), ['python3', 'python3']);
});

test('heads gathered from many small iovecs (Varnish writes "GET", " ", the target, each header as four): both sides whole', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  // One writev of ~50 iovecs per head, the first only 3 bytes long: the kernel used to copy
  // the first 8 iovecs of an HTTP/1 write (a head cut after its first header) and to tell
  // HTTP from the first iovec alone (3 bytes: the requests went unrecorded).
  const pieces = (line: string[], headers: [string, string][]) => [...line, '\r\n', ...headers.flatMap(([k, v]) => [k, ': ', v, '\r\n']), '\r\n'].map((x) => Buffer.from(x));
  const extra: [string, string][] = Array.from({ length: 10 }, (_, i) => [`X-Gather-${i}`, `v${i}`]);
  const gathered = (socket: net.Socket, bufs: Buffer[]) => {
    socket.cork();
    for (const b of bufs) socket.write(b);
    socket.uncork(); // one writev with every piece as its own iovec
  };
  const srv = net.createServer((socket) => {
    let got = '';
    socket.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      while (got.includes('\r\n\r\n')) {
        got = got.slice(got.indexOf('\r\n\r\n') + 4);
        const body = Buffer.from('{"gathered":true}');
        gathered(socket, [...pieces(['HTTP/1.1', ' ', '203', ' ', 'Non-Authoritative Information'], [['Content-Type', 'application/json'], ['Content-Length', String(body.length)], ...extra]), body]);
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((r) => socket.once('connect', r));
  for (let k = 0; k < 4; k++) {
    const answered = new Promise<void>((resolve) => {
      let got = '';
      const on = (d: Buffer) => {
        got += d.toString('latin1');
        if (got.endsWith('{"gathered":true}')) {
          socket.off('data', on);
          resolve();
        }
      };
      socket.on('data', on);
    });
    gathered(socket, pieces(['GET', ' ', `/gathered/${k}?token=TOPSECRET`, ' ', 'HTTP/1.1'], [['Host', `127.0.0.1:${port}`], ['User-Agent', 'gatherer/1'], ...extra]));
    await answered;
  }
  socket.destroy();
  srv.close();
  for (const role of ['client', 'server']) {
    const xs = await records(`path=/gathered/&role=${role}`, 4, `${role}-side records of the gathered heads`);
    assert.equal(xs.length, 4, `${role}: nothing twice`);
    for (const x of xs) {
      assert.equal(x.method, 'GET', `${role} ${x.path}`);
      assert.equal(x.status, 203, `${role} ${x.path}`);
      assert.equal(x.user_agent, 'gatherer/1', `${role} ${x.path}`);
      assert.equal(x.query, 'token=REDACTED');
      assert.equal(x.unmatched, false);
    }
  }
  assert.ok(!JSON.stringify(await fetchAll(stack.base, 'path=/gathered/')).includes('TOPSECRET'));
});

test('a server whose children exit instead of closing (busybox httpd): answers without a length end at the exit, both sides', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  // Each connection is a forked child on fds 0 and 1 that exits after one answer: no close()
  // is seen, and the error page has no Content-Length (its body ends when the socket closes).
  const www = tempDir('heimdall-busybox-');
  writeFileSync(`${www}/page.html`, 'hello from busybox\n');
  const port = await freePort();
  const httpd = spawn('busybox', ['httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', www], { stdio: 'ignore' });
  try {
    await waitFor(() => run('curl', ['-s', '-o', '/dev/null', `http://127.0.0.1:${port}/`]).then(() => true, () => null), 10_000, 'busybox httpd listening');
    await run('curl', ['-sS', '-o', '/dev/null', `http://127.0.0.1:${port}/bb/missing-1`, `http://127.0.0.1:${port}/bb/missing-2`]);
    await run('curl', ['-sS', '-o', '/dev/null', `http://127.0.0.1:${port}/page.html?bb=1`]);
    const xs = await records(`path=${encodeURIComponent('/bb/')}&role=server`, 2, 'busybox\'s two 404s');
    const page = await records('path=/page.html&role=server', 1, 'busybox\'s page');
    for (const x of [...xs, page[0]]) {
      assert.equal(x.process, 'busybox');
      assert.ok(!x.unmatched, JSON.stringify(x));
    }
    assert.deepEqual(xs.map((x) => [x.path, x.status]).sort(), [['/bb/missing-1', 404], ['/bb/missing-2', 404]]);
    // Written whole with write() and shorter than the sample: ended by the exit, not cut off at the TTL.
    for (const x of xs) assert.equal(x.response_truncated, false, `${x.path}: the whole answer was seen (${x.response_bytes} bytes)`);
    assert.equal(page[0].status, 200); // its body went by sendfile, so the sample has only the head
  } finally {
    httpd.kill();
  }
});

test('plain HTTP through a proxy\'s CONNECT tunnel (curl --proxytunnel): the client\'s requests are recorded, beside the CONNECT', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  const relay = await startConnectProxy();
  const port = relay.port;
  try {
    // Python's http.server answers in HTTP/1.0 and closes: each request has a tunnel of its own.
    await run('curl', ['-sS', '-o', '/dev/null', '-o', '/dev/null', '-p', '-x', `http://127.0.0.1:${port}`, `http://127.0.0.1:${pyPort}/etc/hostname?via=tunnel&token=TUNNELPLAIN`, `http://127.0.0.1:${pyPort}/nope-tunnel?via=tunnel`]);
    const inner = await waitFor(async () => {
      const xs = (await fetchAll(stack.base, 'role=client&process=curl')).filter((x) => x.query.startsWith('via=tunnel'));
      return xs.length >= 2 ? xs : null;
    }, 20_000, 'curl\'s two tunnelled requests');
    assert.deepEqual(inner.map((x) => `${x.method} ${x.path} ${x.status}`).sort(), ['GET /etc/hostname 200', 'GET /nope-tunnel 404']);
    for (const x of inner) {
      assert.equal(x.dst_port, port, 'on the socket to the proxy');
      assert.equal(x.host, `127.0.0.1:${pyPort}`);
      assert.ok(!x.unmatched && x.duration_ms > 0, JSON.stringify(x));
    }
    const connects = await waitFor(async () => {
      const xs = (await fetchAll(stack.base, 'method=CONNECT')).filter((x) => x.dst_port === port);
      return xs.length >= 4 ? xs : null;
    }, 20_000, 'both sides of the two CONNECTs');
    assert.deepEqual(connects.map((x) => `${x.role} ${x.process} ${x.status}`).sort(), ['client curl 200', 'client curl 200', 'server node 200', 'server node 200']);
    assert.ok(!JSON.stringify(await fetchAll(stack.base, 'path=/etc/hostname')).includes('TUNNELPLAIN'));
  } finally {
    relay.stop();
  }
});

test('Java: the JDK\'s HttpClient and HttpServer, both sides, keep-alive, chunked, a POST body left unread', { skip: ROOT_SKIP, timeout: 90_000 }, async () => {
  const { stdout } = await run('java', [fileURLToPath(new URL('./fixtures/JvmHttp.java', import.meta.url))], { timeout: 60_000 });
  assert.deepEqual(stdout.trim().split('\n'), ['200', '200', '200', '200', '200', '404', '201', '200']);
  const xs = await records('path=/jvm/', 16, '16 records under /jvm/');
  assert.equal(xs.length, 16, 'nothing twice');
  const want: [string, string, number][] = [
    ...[0, 1, 2, 3, 4].map((i): [string, string, number] => ['GET', `/jvm/get-${i}`, 200]),
    ['GET', '/jvm/missing', 404], ['GET', '/jvm/chunked', 201], ['POST', '/jvm/post', 200],
  ];
  for (const role of ['client', 'server']) {
    const got = xs.filter((x) => x.role === role).map((x): [string, string, number] => [x.method, x.path, x.status]);
    assert.deepEqual(got.sort(), [...want].sort(), role);
  }
  for (const x of xs) {
    assert.equal(x.process, 'java');
    assert.ok(!x.unmatched && x.duration_ms > 0, JSON.stringify(x));
    if (x.path.startsWith('/jvm/get-')) assert.equal(x.query, 'token=REDACTED');
  }
});

test('a Heimdall server the agent was not told about (a cluster\'s, on its node) is not recorded: only its callers are', { skip: ROOT_SKIP, timeout: 90_000 }, async () => {
  const httpPort = await freePort();
  // Not in the agent's HEIMDALL_EXCLUDE_PIDS: only its process title ("heimdall server") tells.
  const other = runHeimdall(['server'], { HEIMDALL_DATA_DIR: tempDir('heimdall-other-'), PORT: String(await freePort()), HTTP_PORT: String(httpPort), HEIMDALL_LISTEN_HOST: '127.0.0.1' });
  try {
    await other.waitForOutput(/server started/, 60_000);
    // A marker of this run: the port may be one an earlier test's server had, with its records.
    const own = `own-${process.hrtime.bigint()}`;
    const ours = (x: { dst_port: number; query: string }) => x.dst_port === httpPort && x.query.startsWith(own);
    await run('curl', ['-sS', '-o', '/dev/null', '-o', '/dev/null', `http://127.0.0.1:${httpPort}/api/stats?${own}=1`, `http://127.0.0.1:${httpPort}/api/logs?${own}=2`]);
    const xs = await waitFor(async () => {
      const got = (await fetchAll(stack.base, 'process=curl')).filter(ours);
      return got.length >= 2 ? got : null;
    }, 20_000, 'curl\'s two calls to the other server');
    await new Promise((r) => setTimeout(r, 1000));
    const all = (await fetchAll(stack.base, 'path=/api/')).filter(ours);
    assert.deepEqual(all.map((x) => `${x.role} ${x.process} ${x.path}`).sort(), ['client curl /api/logs', 'client curl /api/stats']);
    assert.equal(xs.length, 2);
  } finally {
    await other.stop();
  }
});
