import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExportRequest, HttpExchange } from '../../shared/proto/gen/heimdall/v1/ingest.ts';
import { EXCHANGE_COLUMNS } from '../storage/rows.ts';
import { readNativeBlocks } from '../../../test/helpers/native-block.ts';
import { nativeBlock, transcodeExport } from './transcode.ts';
import { pathTemplate } from '../../shared/telemetry/exchange.ts';

const now = BigInt(Date.now()) * 1_000_000n;
const ok = HttpExchange.fromPartial({
  id: '6a2f41a3-c54c-4ce8-92d2-0324e1c32e22', timestampUnixNano: now, durationNs: 1500n, node: 'n"1', pid: 7, role: 1, status: 200,
  method: 'GET', srcIp: '127.0.0.1', dstIp: '::1', srcPort: 5, dstPort: 80, host: 'h', path: '/users/42', query: 'a=1',
  labels: { app: 'web', 'tier\\x': 'é' }, requestSample: Buffer.from([0, 0xff, 0x22, 0x5c, 0x0a]), requestBytes: 10n, unmatched: false,
});
const enc = (xs: HttpExchange[], batchId = 'b-1') => Buffer.from(ExportRequest.encode({ batchId, agentId: 'a', node: 'n', maxInFlight: 0, exchanges: xs }).finish());

test('rows come out as a Native block in column order, samples byte for byte', () => {
  const r = transcodeExport(enc([ok, { ...ok, unmatched: true, status: 0, labels: {}, srcIp: '' }]), now);
  assert.ok(r.ok);
  assert.equal(r.value.count, 2);
  assert.equal(r.value.batchId, 'b-1');
  assert.equal(r.value.maxInFlight, 0);
  const windowed = transcodeExport(Buffer.from(ExportRequest.encode({ batchId: 'b-2', agentId: 'a', node: 'n', maxInFlight: 32, exchanges: [ok] }).finish()), now);
  assert.ok(windowed.ok && windowed.value.maxInFlight === 32 && windowed.value.count === 1);
  const rows = readNativeBlocks(nativeBlock([r.value.columns]));
  assert.equal(rows.length, 2);
  assert.deepEqual(Object.keys(rows[0]), [...EXCHANGE_COLUMNS]);
  const row = rows[0];
  const text = (name: (typeof EXCHANGE_COLUMNS)[number], x = row) => (x[name] as Buffer).toString('utf8');
  assert.equal(row.id, ok.id);
  assert.equal(row.ts, now);
  assert.equal(row.duration_ns, 1500n);
  assert.equal(text('node'), 'n"1');
  assert.equal(row.role, 1);
  assert.equal(text('endpoint'), '/users/{id}');
  assert.equal(text('dst_ip'), '::1');
  assert.equal(text('batch_id'), 'b-1');
  assert.equal(text('agent_id'), 'a');
  assert.equal(row.pid, 7);
  assert.equal(row.status, 200);
  assert.deepEqual(row.request_sample, Buffer.from([0, 0xff, 0x22, 0x5c, 0x0a]));
  assert.deepEqual((row.labels as [Buffer, Buffer][]).map(([k, v]) => [k.toString(), v.toString()]), [['app', 'web'], ['tier\\x', 'é']]);
  assert.equal(rows[1].unmatched, true);
  assert.deepEqual(rows[1].labels, []);
  assert.equal(text('src_ip', rows[1]), '::', 'no address is the unspecified one');
  assert.equal(row.tls, false);
  const t = transcodeExport(enc([{ ...ok, tls: true }]), now);
  assert.ok(t.ok);
  assert.equal(readNativeBlocks(nativeBlock([t.value.columns]))[0].tls, true);
  assert.equal(text('grpc_status'), '');
  const g = transcodeExport(enc([{ ...ok, grpcStatus: '14' }]), now);
  assert.ok(g.ok);
  assert.equal(text('grpc_status', readNativeBlocks(nativeBlock([g.value.columns]))[0]), '14');
  const bad = transcodeExport(enc([{ ...ok, grpcStatus: 'UNAVAILABLE' }]), now);
  assert.ok(!bad.ok && /grpc_status/.test(bad.error));
});

test('the first bad record is named by index and field', () => {
  const cases: [Partial<HttpExchange>, RegExp][] = [
    [{ status: 70000 }, /^exchanges\[1\]\.status: 70000 is out of range/],
    [{ srcPort: 70000 }, /^exchanges\[1\]\.src_port/],
    [{ dstIp: 'nope' }, /^exchanges\[1\]\.dst_ip: "nope" is not an IP address/],
    [{ id: 'x' }, /^exchanges\[1\]\.id/],
    [{ method: 'G E T' }, /^exchanges\[1\]\.method/],
    [{ timestampUnixNano: 5n }, /^exchanges\[1\]\.timestamp_unix_nano/],
    [{ path: 'x'.repeat(9000) }, /^exchanges\[1\]\.path: 9000 bytes is longer than 8192/],
    [{ status: 0 }, /^exchanges\[1\]\.status: 0 is not a valid HTTP status/],
    [{ requestSample: Buffer.alloc(9000) }, /^exchanges\[1\]\.request_sample/],
    [{ srcIp: 'fe80::1%eth0' }, /^exchanges\[1\]\.src_ip/],
  ];
  for (const [bad, re] of cases) {
    const r = transcodeExport(enc([ok, { ...ok, ...bad }], 'bad-1'), now);
    assert.ok(!r.ok, String(re));
    assert.match(r.error, re);
    assert.equal(r.batchId, 'bad-1');
  }
});

test('fuzz: truncated and mutated messages never throw', () => {
  const base = enc([ok, ok]);
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < 5000; i++) {
    const m = Buffer.from(base.subarray(0, Math.floor(rnd() * base.length)));
    for (let k = 0; k < 3; k++) if (m.length) m[Math.floor(rnd() * m.length)] = Math.floor(rnd() * 256);
    const r = transcodeExport(m, now);
    assert.ok(r.ok === true || typeof r.error === 'string');
  }
});

test('64-bit numbers are written exactly (no BigInt on the hot path)', () => {
  for (const v of [0n, 9n, 10n, 2147483647n, 2147483648n, 4294967296n, 999999999999n, 1000000000000000n, 9007199254740991n]) {
    const ts = 1_764_210_000_000_000_000n + (v % 1_000_000_000_000n);
    const x = { ...ok, timestampUnixNano: ts, durationNs: v % 600_000_000_000_000n, responseBytes: v };
    const r = transcodeExport(enc([x]), now);
    assert.ok(r.ok, r.ok ? '' : r.error);
    const row = readNativeBlocks(nativeBlock([r.value.columns]))[0];
    assert.deepEqual([row.ts, row.duration_ns, row.response_bytes], [ts, x.durationNs, v]);
  }
  for (const ip of ['1.2.3.4', '255.255.255.255', '::ffff:10.0.0.1', 'fe80::1']) assert.ok(transcodeExport(enc([{ ...ok, srcIp: ip }]), now).ok, ip);
  for (const ip of ['1.2.3', '256.1.1.1', '1.2.3.4.5', '1..2.3', '01.2.3.4x']) assert.ok(!transcodeExport(enc([{ ...ok, srcIp: ip }]), now).ok, ip);
});

test('a bad record after good ones leaves nothing behind for the next batch', () => {
  assert.ok(!transcodeExport(enc([ok, ok, { ...ok, labels: { k: 'v'.repeat(2000) } }]), now).ok);
  const r = transcodeExport(enc([ok]), now);
  assert.ok(r.ok);
  const rows = readNativeBlocks(nativeBlock([r.value.columns]));
  assert.equal(rows.length, 1);
  assert.equal((rows[0].labels as unknown[]).length, 2);
});

test('batches joined into one block give the same rows, in order, labels included', () => {
  const batches = [
    [ok, { ...ok, labels: {} }],
    [{ ...ok, labels: { a: '1', b: '2', c: '3' } }],
    [{ ...ok, labels: {} }],
    [ok, { ...ok, labels: { z: 'last' } }],
  ].map((b) => {
    const r = transcodeExport(enc(b), now);
    assert.ok(r.ok);
    return r.value.columns;
  });
  const alone = batches.flatMap((c) => readNativeBlocks(nativeBlock([c])));
  const joined = readNativeBlocks(nativeBlock(batches));
  assert.equal(joined.length, 6);
  assert.deepEqual(joined, alone);
  assert.deepEqual((joined[5].labels as [Buffer, Buffer][]).map(([k, v]) => [k.toString(), v.toString()]), [['z', 'last']]);
});

test('endpoints and long values come out right whatever came before (the endpoint cache keys by bytes)', () => {
  // 5,000 distinct paths against a 4,096-slot cache: slots are shared, so hits compare bytes.
  const paths = Array.from({ length: 5000 }, (_, i) => (i % 3 === 0 ? `/users/${i}/orders` : i % 3 === 1 ? `/p${i}/x` : `/é/${'seg'.repeat(i % 40)}/${i}`));
  paths.push('/' + 'a'.repeat(1500), '/' + 'a'.repeat(1500) + '/42');
  const sample = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff));
  const ua = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36';
  for (const round of [0, 1]) {
    for (let i = 0; i < paths.length; i += 500) {
      const xs = paths.slice(i, i + 500).map((path) => ({ ...ok, path, userAgent: ua, responseSample: sample, labels: {} }));
      if (i === 0) xs.push({ ...ok, path: '', userAgent: ua, responseSample: sample, labels: {} });
      const r = transcodeExport(enc(xs), now);
      assert.ok(r.ok);
      const rows = readNativeBlocks(nativeBlock([r.value.columns]));
      rows.forEach((row, k) => {
        const path = xs[k].path;
        assert.equal((row.endpoint as Buffer).toString('utf8'), pathTemplate(path), `round ${round}: ${path.slice(0, 40)}`);
        assert.equal((row.path as Buffer).toString('utf8'), path);
        assert.equal((row.user_agent as Buffer).toString('utf8'), ua);
        assert.deepEqual(row.response_sample, sample);
      });
    }
  }
});
