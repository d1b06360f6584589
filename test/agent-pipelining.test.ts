// Pipelined HTTP/1: more requests in one write than the capture window holds, answers that
// start deep inside a client's 64 KiB reads (apt), and nginx reading 100 pipelined requests
// 1 KiB at a time. Every exchange must pair with its own answer, on both sides.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type net from 'node:net';
import { promisify } from 'node:util';
import { ROOT_SKIP, startStack, type Stack, waitForRecords } from './helpers/stack.ts';
import { startNginx } from './helpers/nginx.ts';

const run = promisify(execFile);
let stack: Stack;

before(async () => {
  if (ROOT_SKIP) return;
  // Samples long enough to hold a whole response head (the downloads' byte counts use it).
  stack = await startStack({ AGENT_HTTP_SAMPLE_BYTES: '256' });
});

after(async () => {
  await stack?.stop();
});

const records = (filter: string, n: number, what: string) => waitForRecords(stack.base, filter, n, what);

test('pipelined requests past the capture window: no exchange gets another\'s response', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  const statusOf = (i: number) => [200, 201, 202, 203, 206, 226][i % 6];
  const srv = http.createServer((req, res) => {
    // writeHead then end: chunked, which Node sends as a writev of more buffers than the probe reads.
    res.writeHead(statusOf(Number(req.url!.split('/')[2])), { 'content-type': 'application/json' });
    res.end(JSON.stringify({ path: req.url }));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  try {
    // 100 requests in one write (past the 2 KiB window), then 20 batches of 16 and 20 of 1.
    // The client reads 1 KiB at a time: how many answers one bigger read would hold depends on
    // timing, and answers hidden past the window (a case the correlator's unit tests pin down)
    // would make the count below vary from run to run.
    const client = `
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
k = 0
for n in [100] + [16] * 20 + [1] * 20:
    s.sendall(b''.join(b'GET /pipe/%d HTTP/1.1\\r\\nHost: p\\r\\n\\r\\n' % (k + i) for i in range(n)))
    buf = b''
    while buf.count(b'HTTP/1.1 ') < n or not buf.endswith(b'0\\r\\n\\r\\n'):
        buf += s.recv(1024)
    k += n
`;
    await run('python3', ['-c', client, String((srv.address() as net.AddressInfo).port)]);
    for (const role of ['client', 'server']) {
      const xs = await records(`path=/pipe/&role=${role}`, 340, `${role}-side records of the pipelined requests`);
      const paired = xs.filter((x) => !x.unmatched);
      for (const x of paired) assert.equal(x.status, statusOf(Number(x.path.split('/')[2])), `${role} ${x.path}`);
      assert.equal(new Set(xs.map((x) => x.path)).size, xs.length, `${role}: nothing twice`);
      assert.ok(paired.length >= 340, `${role}: the batches that fit the window pair (${paired.length})`);
    }
  } finally {
    srv.closeAllConnections();
    srv.close();
  }
});

test('pipelined downloads read 64 KiB at a time (as apt does): answers that start deep inside a read are all found', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  // Each round asks for 10 files and reads only once all of them have arrived, so most answers
  // start far past the capture window of the read that holds them (and some heads are cut by
  // a read's end). Odd rounds write all requests at once; even ones write them one by one, as
  // apt does, and first read 1400 bytes (a network packet: a head and a little body).
  const statusOf = (i: number) => [200, 201, 203][i % 3];
  const sizeOf = (i: number) => 7000 + ((i * 7919) % 40000);
  const srv = http.createServer((req, res) => {
    const i = Number(req.url!.split('/')[2]);
    res.writeHead(statusOf(i), { 'content-type': 'application/octet-stream', 'content-length': sizeOf(i) });
    res.end(Buffer.alloc(sizeOf(i), i % 251));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  try {
    const client = `
import socket, sys, time
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
for r in range(8):
    reqs = [b'GET /apt/%d HTTP/1.1\\r\\nHost: mirror\\r\\nUser-Agent: Debian APT-HTTP/1.3\\r\\n\\r\\n' % (r * 10 + i) for i in range(10)]
    if r % 2:
        s.sendall(b''.join(reqs))
    else:
        for q in reqs: s.sendall(q)
    buf = b'' if r % 2 else s.recv(1400)
    time.sleep(0.3)
    done = 0
    while done < 10:
        buf += s.recv(65536)
        while True:
            h = buf.find(b'\\r\\n\\r\\n')
            if h < 0: break
            n = int([l.split(b':')[1] for l in buf[:h].split(b'\\r\\n') if l.lower().startswith(b'content-length:')][0])
            if len(buf) < h + 4 + n: break
            buf = buf[h + 4 + n:]
            done += 1
`;
    await run('python3', ['-c', client, String((srv.address() as net.AddressInfo).port)]);
    for (const role of ['client', 'server']) {
      const xs = await records(`path=/apt/&role=${role}`, 80, `${role}-side records of the pipelined downloads`);
      assert.equal(new Set(xs.map((x) => x.path)).size, xs.length, `${role}: nothing twice`);
      const unmatched = xs.filter((x) => x.unmatched).map((x) => x.path);
      assert.deepEqual(unmatched, [], `${role}: every download answered`);
      for (const x of xs) {
        const i = Number(x.path.split('/')[2]);
        assert.equal(x.status, statusOf(i), `${role} ${x.path}`);
        assert.equal(Number(x.response_bytes), sizeOf(i) + (x.response_sample.indexOf('\r\n\r\n') + 4), `${role} ${x.path}: bytes`);
      }
    }
  } finally {
    srv.closeAllConnections();
    srv.close();
  }
});

test('100 requests pipelined in one write to nginx (which reads 1 KiB at a time): every one recorded and paired, both sides', { skip: ROOT_SKIP, timeout: 60_000 }, async () => {
  const nginx = await startNginx({});
  try {
    const client = `
import socket, sys, time
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
for r in range(3):
    s.sendall(b''.join(b'GET /deep/%d HTTP/1.1\\r\\nHost: deep\\r\\nUser-Agent: pipeline-100\\r\\n\\r\\n' % (r * 100 + i) for i in range(100)))
    time.sleep(0.2)
    buf = b''
    while buf.count(b'HTTP/1.1 200') < 100 or not buf.endswith(b'default\\n'):
        buf += s.recv(65536)
`;
    await run('python3', ['-c', client, String(nginx.port)]);
    for (const role of ['client', 'server']) {
      const xs = await records(`path=/deep/&role=${role}`, 300, `${role}-side records of 300 pipelined requests`);
      assert.equal(new Set(xs.map((x) => x.path)).size, 300, `${role}: each once`);
      assert.deepEqual(xs.filter((x) => x.unmatched || x.status !== 200).map((x) => x.path), [], `${role}: every one answered`);
    }
  } finally {
    nginx.stop();
  }
});
