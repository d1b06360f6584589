// The agent's gRPC client against real peers: grpc-js servers (as Heimdall's server is) for
// streams, unary calls and the statuses they end with, a plain HTTP/2 server for replies that
// are not gRPC, and a closed port. The sender's fallback to unary Export is checked against a
// grpc-js server that offers only Export, as a server from before ExportStream did.
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ExportAck, ExportRequest, ExportResponse, IngestServiceService } from '../../shared/proto/gen/heimdall/v1/ingest.ts';
import { makeExchange } from '../../../test/helpers/fixtures.ts';
import { Code, GrpcCallError, GrpcChannel, MESSAGE_PREFIX } from './grpc-h2.ts';
import { GrpcSender } from './grpc-sender.ts';

const raw = (b: Buffer) => b;
async function grpcServer(add: (s: grpc.Server) => void): Promise<{ port: number; stop: () => void }> {
  const s = new grpc.Server();
  add(s);
  const port = await new Promise<number>((resolve, reject) => s.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port, stop: () => s.forceShutdown() };
}

const framed = (text: string) => Buffer.concat([Buffer.alloc(MESSAGE_PREFIX), Buffer.from(text)]);

test('a stream: each message answered in order, then the server\'s error status with its message decoded', async () => {
  const srv = await grpcServer((s) =>
    s.register('/t.T/Echo', (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (b: Buffer) => {
        if (b.toString() === 'stop') call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: 'full: 100% (try later)' });
        else call.write(Buffer.from(`ack ${b.toString()}`));
      });
    }, raw, raw, 'bidi'),
  );
  const ch = new GrpcChannel(`127.0.0.1:${srv.port}`);
  try {
    const got: string[] = [];
    const ended = new Promise<GrpcCallError | null>((resolve) => {
      const s = ch.openStream('/t.T/Echo', { onMessage: (b) => got.push(b.toString()), onEnd: resolve });
      for (const m of ['a', 'b'.repeat(200_000), 'c']) s.write(framed(m));
      setTimeout(() => s.write(framed('stop')), 200);
    });
    const err = await ended;
    assert.deepEqual(got.map((x) => x.slice(0, 8)), ['ack a', 'ack bbbb', 'ack c']);
    assert.equal(got[1].length, 4 + 200_000);
    assert.equal(err?.code, Code.RESOURCE_EXHAUSTED);
    assert.equal(err?.details, 'full: 100% (try later)');
  } finally {
    ch.close();
    srv.stop();
  }
});

test('unary calls: the reply; UNIMPLEMENTED for a method the server lacks; DEADLINE_EXCEEDED when it does not answer', async () => {
  const srv = await grpcServer((s) => {
    s.register('/t.T/Up', (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(call.request.toString().toUpperCase())), raw, raw, 'unary');
    s.register('/t.T/Never', () => undefined, raw, raw, 'unary');
  });
  const ch = new GrpcChannel(`127.0.0.1:${srv.port}`);
  try {
    assert.equal((await ch.unary('/t.T/Up', Buffer.from('hello'), 5000)).toString(), 'HELLO');
    await assert.rejects(ch.unary('/t.T/Missing', Buffer.from('x'), 5000), (e: GrpcCallError) => e.code === Code.UNIMPLEMENTED);
    const t0 = Date.now();
    await assert.rejects(ch.unary('/t.T/Never', Buffer.from('x'), 300), (e: GrpcCallError) => e.code === Code.DEADLINE_EXCEEDED);
    assert.ok(Date.now() - t0 < 3000);
    // The connection still serves calls after those.
    assert.equal((await ch.unary('/t.T/Up', Buffer.from('again'), 5000)).toString(), 'AGAIN');
  } finally {
    ch.close();
    srv.stop();
  }
});

test('no server, or one that is not gRPC: statuses a sender can act on, never a throw', async () => {
  const h2 = http2.createServer((req, res) => {
    if (req.url === '/huge') {
      // 200 and a gRPC content type, then a message prefix claiming 4 GiB.
      res.writeHead(200, { 'content-type': 'application/grpc' });
      res.end(Buffer.from([0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
      return;
    }
    res.statusCode = req.url === '/busy' ? 503 : 404;
    res.end('not grpc');
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  const port = (h2.address() as AddressInfo).port;
  const ch = new GrpcChannel(`127.0.0.1:${port}`);
  try {
    await assert.rejects(ch.unary('/nope', Buffer.from('x'), 5000), (e: GrpcCallError) => e.code === Code.UNIMPLEMENTED && /HTTP 404/.test(e.details));
    await assert.rejects(ch.unary('/busy', Buffer.from('x'), 5000), (e: GrpcCallError) => e.code === Code.UNAVAILABLE);
    await assert.rejects(ch.unary('/huge', Buffer.from('x'), 5000), (e: GrpcCallError) => e.code === Code.INTERNAL && /4294967295 bytes/.test(e.details));
  } finally {
    ch.close();
    h2.close();
  }
  const closed = new GrpcChannel(`127.0.0.1:${port}`); // nothing listens there now
  await assert.rejects(closed.unary('/x', Buffer.from('x'), 5000), (e: GrpcCallError) => e.code === Code.UNAVAILABLE && e.details === `connection to the server at 127.0.0.1:${port} failed: connect ECONNREFUSED 127.0.0.1:${port}`);
  const err = await new Promise<GrpcCallError | null>((resolve) => closed.openStream('/x', { onMessage: () => undefined, onEnd: resolve }).write(framed('a')));
  assert.equal(err?.code, Code.UNAVAILABLE);
  closed.close();
});

test('the sender falls back to unary Export when the server has no ExportStream, and the batch arrives whole', async () => {
  const got: ExportRequest[] = [];
  const srv = await grpcServer((s) =>
    s.register(IngestServiceService.export.path, (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const req = ExportRequest.decode(call.request);
      got.push(req);
      cb(null, Buffer.from(ExportResponse.encode({ accepted: req.exchanges.length, duplicate: false }).finish()));
    }, raw, raw, 'unary'),
  );
  const sender = new GrpcSender(`127.0.0.1:${srv.port}`, 'agent-1', 'node-1', 4);
  try {
    await sender.sendBatch([makeExchange({ path: '/one' }), makeExchange({ path: '/two' })]);
    assert.equal(got.length, 1);
    assert.deepEqual(got[0].exchanges.map((x) => x.path), ['/one', '/two']);
    assert.equal(got[0].agentId, 'agent-1');
    assert.equal(sender.stats.sent, 2);
  } finally {
    sender.close();
    srv.stop();
  }
});

test('the sender on ExportStream: a rejected batch is dropped and counted, the next one stored', async () => {
  const srv = await grpcServer((s) =>
    s.register(IngestServiceService.exportStream.path, (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (b: Buffer) => {
        const req = ExportRequest.decode(b);
        const bad = req.exchanges.some((x) => x.path === '/bad');
        call.write(Buffer.from(ExportAck.encode({ batchId: req.batchId, code: bad ? Code.INVALID_ARGUMENT : 0, message: bad ? 'malformed' : '', accepted: bad ? 0 : req.exchanges.length, duplicate: false }).finish()));
      });
    }, raw, raw, 'bidi'),
  );
  const sender = new GrpcSender(`127.0.0.1:${srv.port}`, 'agent-2', 'node-1', 4);
  try {
    await sender.sendBatch([makeExchange({ path: '/bad' })]);
    await sender.sendBatch([makeExchange({ path: '/good' }), makeExchange({ path: '/good2' })]);
    assert.deepEqual(sender.stats, { sent: 2, batches: 1, sendFailures: 1, rejected: 1 });
  } finally {
    sender.close();
    srv.stop();
  }
});

test('the sender: a server gone mid-batch (connection dropped, no ack) and back on the same port gets the batch again', async () => {
  const stall = await grpcServer((s) => s.register(IngestServiceService.exportStream.path, () => undefined, raw, raw, 'bidi'));
  const sender = new GrpcSender(`127.0.0.1:${stall.port}`, 'agent-3', 'node-1', 4);
  const stored: string[] = [];
  let back: { port: number; stop: () => void } | null = null;
  try {
    const sent = sender.sendBatch([makeExchange({ path: '/again' })]);
    await new Promise((r) => setTimeout(r, 200));
    stall.stop(); // as a crash looks from the agent: the connection drops with the batch unacknowledged
    const s = new grpc.Server();
    s.register(IngestServiceService.exportStream.path, (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (b: Buffer) => {
        const req = ExportRequest.decode(b);
        stored.push(...req.exchanges.map((x) => x.path));
        call.write(Buffer.from(ExportAck.encode({ batchId: req.batchId, code: 0, message: '', accepted: req.exchanges.length, duplicate: false }).finish()));
      });
    }, raw, raw, 'bidi');
    await new Promise<void>((resolve, reject) => s.bindAsync(`127.0.0.1:${stall.port}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
    back = { port: stall.port, stop: () => s.forceShutdown() };
    await sent;
    assert.deepEqual(stored, ['/again']);
    assert.equal(sender.stats.sent, 1);
    assert.ok(sender.stats.sendFailures >= 1);
  } finally {
    sender.close();
    back?.stop();
  }
});

test('a peer that accepts the connection and never speaks HTTP/2: the call fails at the connect timeout, not minutes later', async () => {
  const silent = net.createServer(() => undefined); // accepts, says nothing
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const ch = new GrpcChannel(`127.0.0.1:${(silent.address() as AddressInfo).port}`, { connectTimeoutMs: 500 });
  const t0 = Date.now();
  try {
    const err = await new Promise<GrpcCallError | null>((resolve) => ch.openStream('/x', { onMessage: () => undefined, onEnd: resolve }).write(framed('a')));
    assert.equal(err?.code, Code.UNAVAILABLE);
    assert.match(err?.details ?? '', /no HTTP\/2 connection within 0.5 s/);
    assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
  } finally {
    ch.close();
    silent.close();
  }
});
