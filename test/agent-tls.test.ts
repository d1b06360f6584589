// HTTPS: the plaintext comes from uprobes on libssl's SSL_read/SSL_write (curl and nginx),
// SSL_read_ex/SSL_write_ex (Python) and GnuTLS's gnutls_record_recv/send (wget); the
// ciphertext on the socket is never parsed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { fetchAll, ROOT_SKIP, startStack, type Stack } from './helpers/stack.ts';
import { waitFor } from './helpers/server.ts';
import { startNginx, type Nginx } from './helpers/nginx.ts';
import { tempDir } from './helpers/temp-dir.ts';
import { startConnectProxy } from './helpers/connect-proxy.ts';

const run = promisify(execFile);
let stack: Stack;
let nginx: Nginx;

before(async () => {
  if (ROOT_SKIP) return;
  stack = await startStack();
  nginx = await startNginx({ tls: true });
});

after(async () => {
  nginx?.stop();
  await stack?.stop();
});

const url = (p: string) => `https://127.0.0.1:${nginx.tlsPort}${p}`;

/** Waits until at least n records under the API filter carry a query starting with `query`; returns those. */
const recordsWithQuery = (filter: string, query: string, n: number, what: string, timeoutMs = 20_000) =>
  waitFor(async () => {
    const got = (await fetchAll(stack.base, filter)).filter((x) => x.query.startsWith(query));
    return got.length >= n ? got : null;
  }, timeoutMs, what);

test('HTTPS from curl to nginx: both sides, in clear, on one keep-alive connection', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  assert.match(stack.agent.output(), /TLS plaintext read from SSL_read\/SSL_write in \S*libssl\.so\.3/);
  await run('curl', ['-sSk', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null',
    url('/t/ok?tls=1&token=SUPERSECRET'), url('/t/missing?tls=1'), url('/big.bin?tls=1'),
    '--next', '-sSk', '-o', '/dev/null', '--data', 'a=1', url('/t/post?tls=1')]);
  const xs = await waitFor(async () => {
    const got = await fetchAll(stack.base, 'path=/');
    return got.filter((x) => x.query.startsWith('tls=1')).length >= 8 ? got : null;
  }, 20_000, '8 HTTPS records');
  const tls = xs.filter((x) => x.query.startsWith('tls=1'));
  assert.equal(tls.length, 8, 'nothing duplicated');
  const by = (role: string, path: string) => tls.filter((x) => x.role === role && x.path === path);
  for (const role of ['client', 'server']) {
    assert.equal(by(role, '/t/ok')[0]?.status, 200, role);
    assert.equal(by(role, '/t/missing')[0]?.status, 404, role);
    assert.equal(by(role, '/t/post')[0]?.method, 'POST', role);
    const big = by(role, '/big.bin')[0];
    assert.equal(big?.status, 200, role);
    assert.ok(big.response_bytes >= 1024 * 1024, `${role}: ${big.response_bytes} response bytes`);
  }
  for (const x of tls) {
    assert.equal(x.tls, true, 'flagged as HTTPS');
    assert.equal(x.process, x.role === 'client' ? 'curl' : 'nginx');
    assert.ok(x.duration_ms > 0);
    assert.equal(x.unmatched, false);
  }
  assert.equal(by('client', '/t/ok')[0].query, 'tls=1&token=REDACTED');
  // Only what curl sent: no record made of ciphertext. (The test's own API calls show up too.)
  const fromTls = xs.filter((x) => x.process === 'curl' || x.process === 'nginx');
  assert.deepEqual(new Set(fromTls.map((x) => x.path)), new Set(['/t/ok', '/t/missing', '/big.bin', '/t/post']));
  const detail = (await (await fetch(`${stack.base}/api/logs/${by('server', '/t/ok')[0].id}`)).json()) as { request_sample: string };
  assert.match(detail.request_sample, /^GET \/t\/ok\?tls=1&token=REDACTED HTTP\/1\.1\r\n/);
  assert.ok(!JSON.stringify(xs).includes('SUPERSECRET'));
});

test('HTTPS from wget (GnuTLS: gnutls_record_send/recv) to nginx (OpenSSL): both sides in clear', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  assert.match(stack.agent.output(), /TLS plaintext read from gnutls_record_recv\/send in \S*libgnutls\.so\.30/);
  // wget exits 8 when a server answers with an error status: the 404 is on purpose.
  await run('wget', ['-q', '--no-check-certificate', '-O', '/dev/null', url('/t/ok?gnutls=1&token=SUPERSECRET'), url('/t/missing?gnutls=1'), url('/big.bin?gnutls=1')]).catch(() => {});
  await run('wget', ['-q', '--no-check-certificate', '-O', '/dev/null', '--post-data', 'a=1', url('/t/post?gnutls=1')]);
  const xs = await recordsWithQuery('path=/', 'gnutls=1', 8, '8 records of wget\'s HTTPS requests');
  assert.equal(xs.length, 8, 'nothing duplicated');
  for (const role of ['client', 'server']) {
    const by = (path: string) => xs.find((x) => x.role === role && x.path === path);
    assert.deepEqual([by('/t/ok')?.status, by('/t/missing')?.status, by('/t/post')?.method, by('/big.bin')?.status], [200, 404, 'POST', 200], role);
    assert.ok(by('/big.bin')!.response_bytes >= 1024 * 1024, role);
  }
  for (const x of xs) {
    assert.equal(x.tls, true);
    assert.equal(x.process, x.role === 'client' ? 'wget' : 'nginx');
    assert.equal(x.unmatched, false);
  }
  assert.ok(!JSON.stringify(xs).includes('SUPERSECRET'));
});

test('HTTPS from Python (SSL_read_ex/SSL_write_ex)', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  const script = `import ssl, urllib.request
ctx = ssl._create_unverified_context()
for p in ('/t/created?py=1', '/t/fail?py=1'):
    try: urllib.request.urlopen('${url('')}' + p, context=ctx).read()
    except Exception: pass`;
  await run('python3', ['-c', script]);
  const xs = await waitFor(async () => {
    const got = await fetchAll(stack.base, 'path=/t/');
    const py = got.filter((x) => x.query === 'py=1');
    return py.length >= 4 ? py : null;
  }, 20_000, '4 records from Python over HTTPS');
  const status = (role: string, path: string) => xs.find((x) => x.role === role && x.path === path)?.status;
  assert.equal(status('client', '/t/created'), 201);
  assert.equal(status('server', '/t/created'), 201);
  assert.equal(status('client', '/t/fail'), 500);
  assert.equal(status('server', '/t/fail'), 500);
  assert.equal(xs.find((x) => x.role === 'client')?.process, 'python3');
  assert.ok(xs.every((x) => x.tls));
  const plain = await fetchAll(stack.base, 'tls=false&path=/');
  assert.ok(plain.every((x) => !x.query.startsWith('tls=1') && x.query !== 'py=1'), 'the tls filter keeps HTTPS records out');
});

test('HTTPS written a few bytes at a time (SSL_write of 1-3 bytes), answers read a byte at a time: both sides', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  const script = `import socket, ssl, time
ctx = ssl._create_unverified_context()
for step in (1, 2, 3):
    s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', ${nginx.tlsPort})))
    for k in range(2):
        req = b'GET /t/ok?split=%d-%d HTTP/1.1\\r\\nHost: t\\r\\nUser-Agent: tls-split\\r\\n\\r\\n' % (step, k)
        for i in range(0, len(req), step):
            s.send(req[i:i + step])
            time.sleep(0.001)
        got = b''
        while not got.endswith(b'ok\\n'):
            got += s.recv(1)
    s.close()`;
  await run('python3', ['-c', script]);
  const xs = await recordsWithQuery('path=/t/ok', 'split=', 12, '12 records of the split HTTPS requests');
  assert.equal(xs.length, 12, 'nothing twice');
  for (const role of ['client', 'server']) {
    const mine = xs.filter((x) => x.role === role);
    assert.deepEqual(mine.map((x) => x.query).sort(), ['split=1-0', 'split=1-1', 'split=2-0', 'split=2-1', 'split=3-0', 'split=3-1'], role);
    for (const x of mine) {
      assert.equal(x.status, 200);
      assert.equal(x.tls, true);
      assert.equal(x.user_agent, 'tls-split');
      assert.equal(x.unmatched, false);
    }
  }
});

test('a process with its own copy of libssl (as in a container image) is read too', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  // Another file than the host's libssl, as a container's would be: found through
  // /proc/<pid>/maps within the agent's 10 s rescan, and attached through /proc/<pid>/root.
  const dir = tempDir('heimdall-libssl-');
  copyFileSync(realpathSync('/usr/lib/x86_64-linux-gnu/libssl.so.3'), join(dir, 'libssl.so.3'));
  const script = `import ssl, time, urllib.request
ctx = ssl._create_unverified_context()
for i in range(60):
    urllib.request.urlopen('${url('/t/ok')}?copy=%d' % i, context=ctx).read()
    time.sleep(0.4)`;
  const py = spawn('python3', ['-c', script], { env: { ...process.env, LD_LIBRARY_PATH: dir }, stdio: 'ignore' });
  try {
    const xs = await recordsWithQuery('path=/t/ok&role=client&process=python3', 'copy=', 3, 'client records from the python3 using its own libssl', 30_000);
    assert.ok(xs.every((x) => x.tls && x.status === 200));
    assert.match(stack.agent.output(), new RegExp(`TLS plaintext read from SSL_read/SSL_write in /proc/${py.pid}/root${dir}/libssl\\.so\\.3`));
  } finally {
    py.kill();
  }
});

test('HTTPS between Node processes (OpenSSL inside the node executable, encrypting in memory)', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  // Node calls SSL_write before it writes the ciphertext and SSL_read after it read it: the
  // probe ties its first calls on a connection to the thread's neighbouring socket I/O.
  assert.match(stack.agent.output(), /TLS plaintext read from SSL_read\/SSL_write in \S*\/node\b/);
  const dir = tempDir('heimdall-node-tls-');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
  const server = spawn(process.execPath, ['-e', `
    const fs = require('node:fs');
    const s = require('node:https').createServer({ key: fs.readFileSync('${dir}/key.pem'), cert: fs.readFileSync('${dir}/cert.pem') }, (req, res) => {
      req.resume();
      req.on('end', () => {
        const status = req.url.startsWith('/n/missing') ? 404 : req.method === 'POST' ? 201 : 200;
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end('node tls ' + status);
      });
    });
    s.listen(0, '127.0.0.1', () => console.log('port ' + s.address().port));`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve) => server.stdout!.on('data', (b: Buffer) => resolve(Number(/port (\d+)/.exec(b.toString())?.[1]))));
    await run(process.execPath, ['-e', `
      const https = require('node:https');
      const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
      const call = (method, path, body) => new Promise((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: ${port}, method, path, agent }, (res) => { res.resume(); res.on('end', resolve); });
        req.on('error', reject);
        req.end(body);
      });
      (async () => {
        await call('GET', '/n/ok?node=1&secret=SUPERSECRET');
        await call('GET', '/n/missing?node=1');
        await call('POST', '/n/post?node=1', 'a=1&b=2');
        await call('GET', '/n/ok?node=2');
        agent.destroy(); // and exits at once: its records are named from the kernel's view ("node", not "MainThread")
      })();`]);
    const xs = await recordsWithQuery('path=/n/', 'node=', 8, '8 records of HTTPS between Node processes');
    assert.equal(xs.length, 8, 'nothing duplicated');
    for (const role of ['client', 'server']) {
      const mine = xs.filter((x) => x.role === role).sort((a, b) => a.timestamp.localeCompare(b.timestamp));
      assert.deepEqual(mine.map((x) => `${x.method} ${x.path} ${x.status}`), ['GET /n/ok 200', 'GET /n/missing 404', 'POST /n/post 201', 'GET /n/ok 200'], role);
      assert.ok(mine.every((x) => x.tls && x.process === 'node' && !x.unmatched && x.duration_ms > 0), JSON.stringify(mine));
    }
    assert.ok(!JSON.stringify(xs).includes('SUPERSECRET'));
  } finally {
    server.kill();
  }
});

test('Node as HTTPS server and its own client, a new connection per round: SSL objects at reused addresses are not taken for the old ones', { skip: ROOT_SKIP, timeout: 90_000 }, async () => {
  // The probe ties an SSL object to its socket by the object's address; SSL_free unties it. Its
  // key's padding was left as the stack held it, so the untying missed: a later object at the
  // same address was sent to a closed connection's socket number, by then another socket.
  const dir = tempDir('heimdall-node-churn-');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
  const rounds = 40;
  await run(process.execPath, [fileURLToPath(new URL('./fixtures/node-tls-churn.mjs', import.meta.url)), dir, String(rounds), 'churn'], { timeout: 60_000 });
  const want = rounds * 7 * 2;
  const xs = await waitFor(async () => {
    const got = await fetchAll(stack.base, 'path=/churn/');
    return got.length >= want ? got : null;
  }, 20_000, `${want} records of ${rounds} rounds`).catch(async () => fetchAll(stack.base, 'path=/churn/'));
  const per = new Map<string, number>();
  for (const x of xs) per.set(`${x.path.split('/')[2]} ${x.role}`, (per.get(`${x.path.split('/')[2]} ${x.role}`) ?? 0) + 1);
  const short = [...Array(rounds).keys()].flatMap((r) => ['client', 'server'].map((role) => `${r} ${role}`)).filter((k) => per.get(k) !== 7);
  assert.deepEqual(short, [], 'rounds missing records (round role)');
  assert.equal(xs.length, want, 'nothing duplicated');
  for (const x of xs) {
    assert.equal(x.status, x.path.endsWith('/missing') ? 404 : 200, `${x.role} ${x.path}`);
    assert.equal(x.http_version, x.path.endsWith('/h1') ? '1.1' : '2', x.path);
    assert.ok(x.tls && !x.unmatched, JSON.stringify(x));
  }
});

test('HTTPS from Python asyncio (SSLObject on memory BIOs, as uvicorn and aiohttp): 10 connections at once, both sides', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  const dir = tempDir('heimdall-asyncio-tls-');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
  const { stdout } = await run('python3', [fileURLToPath(new URL('./fixtures/asyncio-tls.py', import.meta.url)), dir, 'aio'], { timeout: 30_000 });
  assert.equal(stdout.trim(), 'done 200');
  const xs = await waitFor(async () => {
    const got = await fetchAll(stack.base, 'path=/aio/');
    return got.length >= 400 ? got : null;
  }, 20_000, '400 records of 200 asyncio HTTPS requests');
  assert.equal(xs.length, 400, 'nothing duplicated');
  for (const role of ['client', 'server']) {
    const mine = xs.filter((x) => x.role === role);
    assert.equal(new Set(mine.map((x) => x.path)).size, 200, role);
    for (const x of mine) {
      const step = Number(x.path.split('/')[3]);
      assert.equal(x.status, step === 2 ? 404 : step > 0 ? 201 : 200, `${role} ${x.path}`);
      assert.equal(x.method, step > 0 ? 'POST' : 'GET', `${role} ${x.path}`);
      const body = step * 100;
      assert.equal(x.request_bytes, `${x.method} ${x.path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${body}\r\n\r\n`.length + body, `${role} ${x.path}`);
      const answer = x.path.length * 40;
      assert.equal(x.response_bytes, `HTTP/1.1 ${x.status} X\r\nContent-Length: ${answer}\r\n\r\n`.length + answer, `${role} ${x.path}`);
      assert.ok(x.tls && !x.unmatched && x.process.startsWith('python'), JSON.stringify(x));
    }
  }
});

test('HTTPS through a proxy (CONNECT): the tunnel\'s requests are recorded on the client, beside the CONNECT', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  // The proxy relays ciphertext only.
  const proxy = await startConnectProxy();
  const port = proxy.port;
  try {
    await run('curl', ['-sSk', '-o', '/dev/null', '-o', '/dev/null', '-x', `http://127.0.0.1:${port}`, url('/t/tunnel?via=proxy&token=TUNNELSECRET'), url('/t/missing?via=proxy')]);
    const xs = await recordsWithQuery('path=/', 'via=proxy', 4, 'both sides of two tunnelled requests');
    const line = (x: (typeof xs)[number]) => `${x.role} ${x.process} ${x.method} ${x.path} ${x.status} tls=${x.tls}`;
    assert.deepEqual(xs.map(line).sort(), [
      'client curl GET /t/missing 404 tls=true',
      'client curl GET /t/tunnel 200 tls=true',
      'server nginx GET /t/missing 404 tls=true',
      'server nginx GET /t/tunnel 200 tls=true',
    ]);
    // The client's records are on its socket to the proxy; the host is the tunnel's target.
    for (const x of xs.filter((r) => r.role === 'client')) {
      assert.equal(x.dst_port, port);
      assert.equal(x.host, `127.0.0.1:${nginx.tlsPort}`);
      assert.equal(x.unmatched, false);
    }
    const connects = (await fetchAll(stack.base, 'method=CONNECT')).filter((x) => x.dst_port === port);
    assert.deepEqual(connects.map((x) => `${x.role} ${x.process} ${x.status}`).sort(), ['client curl 200', 'server node 200']);
    assert.ok(!JSON.stringify(xs).includes('TUNNELSECRET'));
  } finally {
    proxy.stop();
  }
});

test('HTTPS from a TLS library the agent cannot read (Chromium\'s BoringSSL): the server side is recorded, and the log says what went unread', { skip: ROOT_SKIP || (existsSync('/usr/bin/chromium') ? false : 'needs Debian\'s chromium (scripts/setup.sh --test installs it)'), timeout: 60_000 }, async () => {
  const opaque = () => Math.max(0, ...[...stack.agent.output().matchAll(/tls_opaque=(\d+)/g)].map((m) => Number(m[1])));
  const before = opaque();
  await run('chromium', ['--headless', '--no-sandbox', '--ignore-certificate-errors', '--dump-dom', url('/t/chromium?via=boringssl')], { timeout: 30_000 });
  const xs = await recordsWithQuery('path=/t/chromium', 'via=boringssl', 1, 'nginx\'s record of the request');
  assert.deepEqual(xs.map((x) => `${x.role} ${x.process} ${x.status} tls=${x.tls}`), ['server nginx 200 tls=true']);
  await waitFor(async () => opaque() > before || null, 10_000, 'tls_opaque to count Chromium\'s encrypted records');
});
