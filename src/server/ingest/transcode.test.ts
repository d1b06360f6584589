import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExportRequest, HttpExchange } from '../../shared/proto/gen/heimdall/v1/ingest.ts';
import { EXCHANGE_COLUMNS } from '../storage/rows.ts';
import { transcodeExport } from './transcode.ts';

const now = BigInt(Date.now()) * 1_000_000n;
const ok = HttpExchange.fromPartial({
  id: '6a2f41a3-c54c-4ce8-92d2-0324e1c32e22', timestampUnixNano: now, durationNs: 1500n, node: 'n"1', pid: 7, role: 1, status: 200,
  method: 'GET', srcIp: '127.0.0.1', dstIp: '::1', srcPort: 5, dstPort: 80, host: 'h', path: '/users/42', query: 'a=1',
  labels: { app: 'web', 'tier\\x': 'é' }, requestSample: Buffer.from([0, 0xff, 0x22, 0x5c, 0x0a]), requestBytes: 10n, unmatched: false,
});
const enc = (xs: HttpExchange[], batchId = 'b-1') => Buffer.from(ExportRequest.encode({ batchId, agentId: 'a', node: 'n', exchanges: xs }).finish());

test('rows come out in column order, strings escaped, samples byte for byte', () => {
  const r = transcodeExport(enc([ok, { ...ok, unmatched: true, status: 0 }]), now);
  assert.ok(r.ok);
  assert.equal(r.value.count, 2);
  assert.equal(r.value.batchId, 'b-1');
  const lines = r.value.rows.toString('latin1').trim().split('\n');
  assert.equal(lines.length, 2);
  const row = JSON.parse(lines[0]) as unknown[];
  assert.equal(row.length, EXCHANGE_COLUMNS.length);
  const col = (name: (typeof EXCHANGE_COLUMNS)[number]) => row[EXCHANGE_COLUMNS.indexOf(name)];
  assert.equal(col('id'), ok.id);
  assert.equal(col('ts'), now.toString());
  assert.equal(col('node'), 'n"1');
  assert.equal(col('role'), 'server');
  assert.equal(col('endpoint'), '/users/{id}');
  assert.equal(col('dst_ip'), '::1');
  assert.equal(col('batch_id'), 'b-1');
  assert.deepEqual(Buffer.from(col('request_sample') as string, 'latin1'), Buffer.from([0, 0xff, 0x22, 0x5c, 0x0a]));
  // Labels: UTF-8 bytes pass through; JSON.parse over latin1 shows them as two chars.
  assert.deepEqual(Object.keys(col('labels') as object), ['app', 'tier\\x']);
  assert.equal(JSON.parse(lines[1])[EXCHANGE_COLUMNS.indexOf('unmatched')], true);
  assert.equal(col('tls'), false);
  const t = transcodeExport(enc([{ ...ok, tls: true }]), now);
  assert.ok(t.ok);
  assert.equal((JSON.parse(t.value.rows.toString('latin1')) as unknown[])[EXCHANGE_COLUMNS.indexOf('tls')], true);
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
  const col = (name: (typeof EXCHANGE_COLUMNS)[number]) => EXCHANGE_COLUMNS.indexOf(name);
  for (const v of [0n, 9n, 10n, 2147483647n, 2147483648n, 4294967296n, 999999999999n, 1000000000000000n, 9007199254740991n]) {
    const ts = 1_764_210_000_000_000_000n + (v % 1_000_000_000_000n);
    const x = { ...ok, timestampUnixNano: ts, durationNs: v % 600_000_000_000_000n, responseBytes: v };
    const r = transcodeExport(enc([x]), now);
    assert.ok(r.ok, r.ok ? '' : r.error);
    const row = JSON.parse(r.value.rows.toString('latin1')) as string[];
    assert.deepEqual([row[col('ts')], row[col('duration_ns')], row[col('response_bytes')]], [ts.toString(), x.durationNs.toString(), v.toString()]);
  }
  for (const ip of ['1.2.3.4', '255.255.255.255', '::ffff:10.0.0.1', 'fe80::1']) assert.ok(transcodeExport(enc([{ ...ok, srcIp: ip }]), now).ok, ip);
  for (const ip of ['1.2.3', '256.1.1.1', '1.2.3.4.5', '1..2.3', '01.2.3.4x']) assert.ok(!transcodeExport(enc([{ ...ok, srcIp: ip }]), now).ok, ip);
});
