// Threads move between CPUs, even inside one message. Here a client writes the first half of
// each request head on CPU 0 and the second on CPU 1, and reads the response on either: the
// records must still reach the parser in order. (A ring buffer per CPU, read ring by ring,
// fails this test: the halves of one head come apart. See DEVELOPERS.md.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { fetchAll, ROOT_SKIP, startStack, type Stack } from './helpers/stack.ts';
import { waitFor } from './helpers/server.ts';

const run = promisify(execFile);
const SKIP = ROOT_SKIP || (availableParallelism() < 2 ? 'needs two CPUs to move a thread between' : false);
const N = 300;
const statusOf = (i: number) => 200 + (i % 7);

const CLIENT = `
import os, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(('127.0.0.1', port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for i in range(n):
    os.sched_setaffinity(0, {0})
    s.sendall(('GET /cpus/%d HTTP/1.1\\r\\nHost: cpus\\r\\n' % i).encode())
    os.sched_setaffinity(0, {1})
    s.sendall(b'X-Half: 2\\r\\n\\r\\n')
    os.sched_setaffinity(0, {i % 2})
    buf = b''
    while b'\\r\\n\\r\\n' not in buf:
        buf += s.recv(65536)
    head, _, body = buf.partition(b'\\r\\n\\r\\n')
    length = sum(int(l.split(b':')[1]) for l in head.split(b'\\r\\n') if l.lower().startswith(b'content-length'))
    while len(body) < length:
        body += s.recv(65536)
`;

let stack: Stack;
let srv: http.Server;

before(async () => {
  if (SKIP) return;
  stack = await startStack();
  srv = http.createServer((req, res) => {
    res.writeHead(statusOf(Number(req.url!.split('/')[2])), { 'content-type': 'text/plain' });
    res.end('answer');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
});

after(async () => {
  srv?.closeAllConnections();
  srv?.close();
  await stack?.stop();
});

test('a client that moves between CPUs mid-message keeps every exchange whole and in order', { skip: SKIP, timeout: 90_000 }, async () => {
  await run('python3', ['-c', CLIENT, String((srv.address() as AddressInfo).port), String(N)]);
  for (const role of ['client', 'server']) {
    const xs = await waitFor(async () => {
      const got = await fetchAll(stack.base, `path=${encodeURIComponent('/cpus/')}&role=${role}`);
      return got.length >= N ? got : null;
    }, 30_000, `${N} ${role}-side records`);
    assert.equal(xs.length, N, `${role}: one record per exchange`);
    for (const x of xs) {
      const i = Number(x.path.split('/')[2]);
      assert.equal(x.status, statusOf(i), `${role} ${x.path}: its own response`);
      assert.equal(x.unmatched, false, `${role} ${x.path}`);
      assert.ok(x.duration_ms > 0, `${role} ${x.path}: positive duration`);
    }
    assert.deepEqual(new Set(xs.map((x) => x.path)).size, N, `${role}: nothing twice`);
  }
});
