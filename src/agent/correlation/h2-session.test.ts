import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { Buffer } from 'node:buffer';
import http2 from 'node:http2';
import net from 'node:net';
import { test } from 'node:test';
import { dataRecord } from '../../../test/helpers/records.ts';
import { decodeFrame, type DataEvent } from '../capture/decode.ts';
import { F_AFTER_LOSS } from '../capture/event-layout.ts';
import type { ExchangeRecord } from '../exchange-record.ts';
import { Correlator } from './correlator.ts';
import { grpcTimeoutNs } from './grpc-status.ts';
import { midstreamClientDir } from './h2-frames.ts';

/** What went over the wire, chunk by chunk, as a client saw it: [egress?, bytes, when (ns)?]. */
type Wire = [boolean, Buffer, number?][];

/** A TCP relay to port that records the client's side of every chunk, with its time. */
async function recordingRelay(port: number): Promise<{ port: number; wire: Wire; close: () => void }> {
  const wire: Wire = [];
  const now = () => Number(process.hrtime.bigint());
  const relay = net.createServer((c) => {
    const up = net.connect(port, '127.0.0.1');
    c.on('data', (d: Buffer) => (wire.push([true, d, now()]), up.write(d)));
    up.on('data', (d: Buffer) => (wire.push([false, d, now()]), c.write(d)));
    c.on('close', () => up.destroy());
    up.on('close', () => c.destroy());
    c.on('error', () => up.destroy()); // the peers' resets are not the test's business
    up.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  return { port: (relay.address() as net.AddressInfo).port, wire, close: () => relay.close() };
}

/** Real HTTP/2 between Node's client and server through a recording TCP relay: the status is the path's last segment. */
async function recordH2(paths: string[]): Promise<Wire> {
  const server = http2.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(Number(req.url.split('/').pop()) || 200).end(req.url.includes('big') ? Buffer.alloc(100_000, 1) : 'ok'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const relay = await recordingRelay((server.address() as net.AddressInfo).port);
  const s = http2.connect(`http://127.0.0.1:${relay.port}`);
  for (const group of [paths.slice(0, paths.length / 2), paths.slice(paths.length / 2)]) {
    await Promise.all(group.map((p) => new Promise<void>((done) => s.request({ ':path': p, 'user-agent': 'unit' }).on('end', done).on('data', () => undefined).end())));
  }
  s.close();
  await new Promise((r) => setTimeout(r, 50));
  relay.close();
  server.close();
  return relay.wire;
}

/** The client's records, with every syscall captured up to `window` bytes; `lost`: records the ring buffer dropped. */
function replay(wire: Wire, window: number, lost = new Set<number>()): ExchangeRecord[] {
  const out: ExchangeRecord[] = [];
  const c = new Correlator({ ttlMs: 30_000, sampleBytes: 256, maxConnections: 16, wallOffsetNs: 0n }, (x) => out.push(x));
  let t = 1e9;
  let afterLoss = false;
  for (const [i, [egress, bytes, when]] of wire.entries()) {
    if (lost.has(i)) {
      afterLoss = true; // the kernel flags the socket's next record
      continue;
    }
    const flags = afterLoss ? F_AFTER_LOSS : 0;
    afterLoss = false;
    const rec = dataRecord({ tgid: 7, fd: 5, sock: 1n, direction: egress ? 1 : 0, startNs: when ?? (t += 1000), endNs: when ?? (t += 1000), len: bytes.length, payload: bytes.subarray(0, window), lport: 40000, rport: 8080, comm: 'node', flags });
    c.onData(decodeFrame(rec) as DataEvent);
  }
  c.closeAll((wire.at(-1)?.[2] ?? t) + 1e6);
  return out;
}

const PATHS = [...Array.from({ length: 12 }, (_, i) => `/u/${i}/${[200, 201, 404, 500][i % 4]}`), '/u/big/200', '/u/after/204'];

test('streams pair by id, whatever order they finish in', async () => {
  const xs = replay(await recordH2(PATHS), 1 << 20);
  assert.deepEqual(xs.map((x) => `${x.method} ${x.path} ${x.status} ${x.httpVersion} ${x.role}`).sort(), PATHS.map((p) => `GET ${p} ${p.split('/').pop()} 2 2`).sort());
  assert.ok(xs.every((x) => !x.unmatched && x.userAgent === 'unit'));
  assert.ok(xs.find((x) => x.path === '/u/big/200')!.responseBytes > 100_000);
});

test('a preface written in two pieces ("PR" or "PRI * H", then the rest) still opens HTTP/2', async () => {
  const wire = await recordH2(PATHS);
  const first = wire.findIndex(([egress]) => egress);
  for (const cut of [1, 2, 3, 4, 7, 15]) {
    const [egress, bytes, when] = wire[first];
    const split: Wire = [...wire.slice(0, first), [egress, bytes.subarray(0, cut), when], [egress, bytes.subarray(cut), when], ...wire.slice(first + 1)];
    const xs = replay(split, 8192);
    assert.equal(xs.filter((x) => !x.unmatched && x.httpVersion === '2').length, PATHS.length, `preface cut after ${cut} bytes`);
  }
});

test('small capture windows lose exchanges, never mislabel one', async () => {
  const wire = await recordH2(PATHS);
  assert.equal(replay(wire, 2048).filter((x) => !x.unmatched).length, PATHS.length, 'the default window sees them all');
  for (const window of [9, 30, 100, 600, 2048]) {
    for (const x of replay(wire, window)) {
      if (x.unmatched) continue;
      assert.equal(String(x.status), x.path.split('/').pop(), `window ${window}: ${x.path} got ${x.status}`);
    }
  }
});

test('records the ring buffer lost: the connection is picked up again, nothing mislabelled', async () => {
  const wire = await recordH2(PATHS);
  let matched = 0;
  for (let i = 1; i < wire.length; i++) {
    const xs = replay(wire, 8192, new Set([i]));
    for (const x of xs) if (!x.unmatched) assert.equal(String(x.status), x.path.split('/').pop(), `record ${i} lost: ${x.path} got ${x.status}`);
    matched += xs.filter((x) => !x.unmatched).length;
  }
  // Responses whose status comes from a table entry the lost record inserted stay unknown
  // (unmatched); the rest pair again.
  assert.ok(matched >= 0.75 * (wire.length - 1) * PATHS.length, `${matched} of ${(wire.length - 1) * PATHS.length} paired`);
});

test('a reset gRPC call gets the status its client reports: CANCELLED, or DEADLINE_EXCEEDED once its grpc-timeout ran out', async () => {
  const id = (b: Buffer) => b;
  const method = (path: string, responseStream: boolean) => ({ path, requestStream: false, responseStream, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id });
  const svc = { slow: method('/t.S/Slow', false), watch: method('/t.S/Watch', true) } as unknown as grpc.ServiceDefinition;
  const server = new grpc.Server();
  const timers: NodeJS.Timeout[] = [];
  server.addService(svc, {
    slow: (call: { request: Buffer }, cb: grpc.sendUnaryData<Buffer>) => timers.push(setTimeout(() => cb(null, Buffer.from('late')), Number(call.request.toString()))),
    watch: (call: grpc.ServerWritableStream<Buffer, Buffer>) => call.write(Buffer.from('first')), // then nothing until cancelled
  });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  const relay = await recordingRelay(port);
  const Client = grpc.makeGenericClientConstructor(svc, 'S');
  const c = new Client(`127.0.0.1:${relay.port}`, grpc.credentials.createInsecure()) as unknown as Record<string, (...a: unknown[]) => grpc.ClientReadableStream<Buffer>>;
  const slow = (ms: number, deadlineMs: number) => new Promise<number>((r) => c.slow(Buffer.from(String(ms)), { deadline: Date.now() + deadlineMs }, (e: grpc.ServiceError | null) => r(e?.code ?? 0)));
  assert.equal(await slow(10, 5000), grpc.status.OK);
  assert.equal(await slow(3000, 300), grpc.status.DEADLINE_EXCEEDED);
  const watch = c.watch(Buffer.from('x'));
  watch.on('error', () => undefined);
  await new Promise((r) => watch.once('data', r));
  watch.cancel();
  await new Promise((r) => setTimeout(r, 100));
  (c as unknown as grpc.Client).close();
  server.forceShutdown();
  relay.close();
  timers.forEach(clearTimeout);
  const xs = replay(relay.wire, 8192);
  assert.deepEqual(xs.map((x) => `${x.path} ${x.grpcStatus || '-'}`).sort(), ['/t.S/Slow 0', '/t.S/Slow 4', '/t.S/Watch 1']);
});

test('a gRPC call answered with an HTTP error and no grpc-status gets the status its client reports', async () => {
  // A proxy's answer (no gRPC server behind): the status is the path's last segment.
  const server = http2.createServer((req, res) => {
    req.resume();
    res.writeHead(Number(req.url.split('/').pop())).end('upstream down');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const relay = await recordingRelay((server.address() as net.AddressInfo).port);
  const codes = [200, 401, 403, 404, 429, 502, 503, 504, 500, 400];
  const id = (b: Buffer) => b;
  const svc = Object.fromEntries(codes.map((c) => [`m${c}`, { path: `/p.S/${c}`, requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id }]));
  const Client = grpc.makeGenericClientConstructor(svc as unknown as grpc.ServiceDefinition, 'S');
  const c = new Client(`127.0.0.1:${relay.port}`, grpc.credentials.createInsecure()) as unknown as Record<string, (req: Buffer, cb: (e: grpc.ServiceError | null) => void) => void>;
  const reported = new Map<string, string>();
  for (const code of codes) reported.set(`/p.S/${code}`, String(await new Promise<number>((r) => c[`m${code}`].call(c, Buffer.from('x'), (e) => r(e?.code ?? 0)))));
  (c as unknown as grpc.Client).close();
  await new Promise((r) => setTimeout(r, 50));
  relay.close();
  server.close();
  const xs = replay(relay.wire, 8192);
  assert.equal(xs.length, codes.length);
  // A 200 without grpc-status is a broken answer the client reports as UNKNOWN or INTERNAL: left empty.
  for (const x of xs) assert.equal(x.grpcStatus, x.status === 200 ? '' : reported.get(x.path), `${x.path}: client reported ${reported.get(x.path)}`);
});

test('header blocks larger than the capture window: recorded from their first fields, secrets past the window never seen', async () => {
  const server = http2.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(Number(req.url.split('/').pop()), { 'x-big': 'b'.repeat(20_000) }).end('ok'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const relay = await recordingRelay((server.address() as net.AddressInfo).port);
  const s = http2.connect(`http://127.0.0.1:${relay.port}`);
  const get = (path: string, headers: Record<string, string> = {}) =>
    new Promise<void>((done) => s.request({ ':path': path, ...headers }).on('data', () => undefined).on('end', done).end());
  await get('/big/200', { 'x-big': 'a'.repeat(20_000), cookie: 'sid=COOKIESECRET' });
  await get('/after/404');
  s.close();
  await new Promise((r) => setTimeout(r, 50));
  relay.close();
  server.close();
  const xs = replay(relay.wire, 8192);
  assert.deepEqual(xs.map((x) => `${x.method} ${x.path} ${x.status} ${x.unmatched}`), ['GET /big/200 200 false', 'GET /after/404 404 false']);
  const big = xs[0];
  assert.ok(big.requestTruncated && big.responseTruncated, 'samples marked truncated');
  // Huffman-coded: 20,000 "a"s take 12.5 KB on the wire.
  assert.ok(big.requestBytes > 12_000 && big.responseBytes > 12_000, `${big.requestBytes} / ${big.responseBytes} bytes`);
  assert.ok(!Buffer.concat([big.requestSample, big.responseSample]).includes('COOKIESECRET'));
});

test('streams a GOAWAY says were never processed are not exchanges (clients send them again)', async () => {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined); // the refused one is closed with REFUSED_STREAM
    if (headers[':path'] === '/g/refused') stream.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, 1); // stream 1 only was processed
    else {
      stream.respond({ ':status': 200 });
      stream.end('ok');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const relay = await recordingRelay((server.address() as net.AddressInfo).port);
  const s = http2.connect(`http://127.0.0.1:${relay.port}`);
  s.on('error', () => undefined);
  const get = (path: string) => new Promise<void>((done) => {
    const r = s.request({ ':path': path });
    r.on('data', () => undefined).on('close', () => done()).on('error', () => undefined);
    r.end();
  });
  await get('/g/ok');
  await get('/g/refused');
  await new Promise((r) => setTimeout(r, 100));
  s.destroy();
  relay.close();
  server.close();
  const xs = replay(relay.wire, 8192);
  assert.deepEqual(xs.map((x) => `${x.path} ${x.status} ${x.unmatched}`), ['/g/ok 200 false']);
});

test('gRPC answers larger than the capture window keep their grpc-status: one at a time exactly, several at once never wrong', async () => {
  const id = (b: Buffer) => b;
  const svc = { get: { path: '/big.S/Get', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } } as unknown as grpc.ServiceDefinition;
  const server = new grpc.Server();
  // The request says the answer: its size in KB, and an error code for "e<code>".
  server.addService(svc, { get: (call: { request: Buffer }, cb: grpc.sendUnaryData<Buffer>) => {
    const r = call.request.toString();
    if (r.startsWith('e')) cb({ code: Number(r.slice(1)), details: 'refused' });
    else cb(null, Buffer.alloc(Number(r) * 1024, 7));
  } });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  const relay = await recordingRelay(port);
  const Client = grpc.makeGenericClientConstructor(svc, 'S');
  const c = new Client(`127.0.0.1:${relay.port}`, grpc.credentials.createInsecure()) as unknown as Record<string, (req: Buffer, cb: (e: grpc.ServiceError | null) => void) => void>;
  const call = (r: string) => new Promise<number>((done) => c.get.call(c, Buffer.from(r), (e) => done(e?.code ?? 0)));
  const sequential = ['200', 'e5', '100', '300', 'e3', '64', '1'];
  for (const r of sequential) await call(r);
  const together = ['200', 'e5', '150', 'e3', '100', '2'];
  await Promise.all(together.map(call));
  (c as unknown as grpc.Client).close();
  server.forceShutdown();
  relay.close();
  const xs = replay(relay.wire, 8192);
  assert.equal(xs.length, sequential.length + together.length);
  const expected = (i: number) => { const r = [...sequential, ...together][i]; return r.startsWith('e') ? r.slice(1) : '0'; };
  // Records come out in the order the calls ended: the first ones are the sequential calls.
  assert.deepEqual(xs.slice(0, sequential.length).map((x) => x.grpcStatus), sequential.map((_, i) => expected(i)));
  const concurrent = xs.slice(sequential.length).map((x) => x.grpcStatus);
  for (const g of concurrent) assert.ok(g === '' || g === '0' || g === '5' || g === '3', `concurrent call: ${g}`);
  assert.equal(concurrent.filter((g) => g === '5').length <= 1 && concurrent.filter((g) => g === '3').length <= 1, true);
});

test('grpc-timeout values', () => {
  assert.equal(grpcTimeoutNs('100m'), 100e6);
  assert.equal(grpcTimeoutNs('5S'), 5e9);
  assert.equal(grpcTimeoutNs('12345678n'), 12345678);
  for (const bad of ['', '100', '123456789m', '1x', ' 1S', '-1S']) assert.equal(grpcTimeoutNs(bad), -1, bad);
});

/** What the kernel starts capturing a connection at when it saw no preface: a syscall opening with a client stream's whole HEADERS frame. */
function kernelWouldJoin(d: Buffer): boolean {
  const len = (d[1] << 8) | d[2];
  const sid = d.length >= 9 ? d.readUInt32BE(5) : 0;
  return d.length >= 10 && d[0] === 0 && d[3] === 1 && (d[4] & 0x04) !== 0 && (d[4] & ~0x2d) === 0 && len > 0 && len <= 16384 && 9 + len <= d.length && (sid & 1) === 1;
}

test('a connection open before capture (no preface): joined at a HEADERS frame, what follows recorded, nothing mislabelled', async () => {
  const paths = Array.from({ length: 40 }, (_, i) => `/m/${i}/${[200, 204, 404, 500, 201][i % 5]}`);
  const wire = await recordH2(paths);
  let joins = 0;
  let bestSecondHalf = 0;
  for (let from = 1; from < wire.length; from++) {
    const at = wire.findIndex(([, d], i) => i >= from && kernelWouldJoin(d));
    if (at < 0) break;
    from = at;
    joins++;
    const xs = replay(wire.slice(at), 8192);
    for (const x of xs) {
      if (x.unmatched) continue;
      assert.equal(String(x.status), x.path.split('/').pop(), `joined at ${at}: ${x.path} got ${x.status}`);
      assert.equal(x.method, 'GET');
      assert.equal(x.role, 2, 'client'); // ROLE_CLIENT: the relay recorded the client's side
    }
    bestSecondHalf = Math.max(bestSecondHalf, xs.filter((x) => !x.unmatched && Number(x.path.split('/')[2]) >= 20).length);
  }
  assert.ok(joins >= 2, `${joins} places to join`);
  // Statuses outside HPACK's static table (201) come from an entry inserted before the join: unknown.
  assert.ok(bestSecondHalf >= 16, `joined before the second group: ${bestSecondHalf} of its 20 exchanges recorded`);
});

test('midstream detection leaves HTTP/1 and other bytes alone', () => {
  for (const s of ['GET / HTTP/1.1\r\n\r\n', 'HTTP/1.1 200 OK\r\n', '\x00\x00\x05\x01\x04\x00\x00\x00\x01hello', '\x00\x00\x00\x04\x00\x00\x00\x00\x00']) {
    assert.equal(midstreamClientDir(1, Buffer.from(s, 'latin1')), null, JSON.stringify(s));
  }
  // A HEADERS frame with :method GET (static 2) and :path / (static 4): a request, so its direction is the client's.
  const req = Buffer.from([0, 0, 2, 1, 0x05, 0, 0, 0, 3, 0x82, 0x84]);
  assert.equal(midstreamClientDir(1, req), 1);
  assert.equal(midstreamClientDir(0, req), 0);
  const res = Buffer.from([0, 0, 1, 1, 0x04, 0, 0, 0, 3, 0x88]); // :status 200
  assert.equal(midstreamClientDir(0, res), 1);
});

test('noise after a preface never throws', () => {
  let seed = 11;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
  for (let i = 0; i < 300; i++) {
    const wire: Wire = [[true, preface]];
    for (let k = 0; k < 20; k++) wire.push([rnd() < 0.5, Buffer.from(Array.from({ length: Math.floor(rnd() * 200) }, () => (rnd() < 0.3 ? 0 : Math.floor(rnd() * 256))))]);
    replay(wire, 64 + Math.floor(rnd() * 200));
  }
});

test('noise after a mid-connection HEADERS frame never throws', () => {
  let seed = 5;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => (rnd() < 0.3 ? 0 : Math.floor(rnd() * 256))));
  let joined = 0;
  for (let i = 0; i < 300; i++) {
    // A frame header the kernel would join at, then a random block: sometimes it decodes.
    const block = Buffer.concat([Buffer.from([0x82, 0x84]), rnd() < 0.5 ? Buffer.from([0x41, 3, 0x61, 0x62, 0x63]) : bytes(Math.floor(rnd() * 40))]);
    const head = Buffer.from([0, 0, block.length, 1, 0x04 | (rnd() < 0.5 ? 1 : 0), 0, 0, 0, 1 + 2 * Math.floor(rnd() * 50)]);
    const wire: Wire = [[rnd() < 0.5, Buffer.concat([head, block])]];
    if (midstreamClientDir(1, wire[0][1]) !== null) joined++;
    for (let k = 0; k < 20; k++) wire.push([rnd() < 0.5, bytes(Math.floor(rnd() * 200))]);
    replay(wire, 64 + Math.floor(rnd() * 200));
  }
  assert.ok(joined > 0, 'some blocks decoded to a request');
});
