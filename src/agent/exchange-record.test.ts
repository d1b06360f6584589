import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExportRequest } from '../shared/proto/gen/heimdall/v1/ingest.ts';
import { ExchangeIds, recordId, recordTimestampNs, toRecord, WallClock, writeId, type ExchangeRecord } from './exchange-record.ts';
import { ExchangeEntries } from './transport/export-encoder.ts';
import { makeExchange } from '../../test/helpers/fixtures.ts';

test('monotonic + offset in number halves equals the BigInt sum, mod 2^64', () => {
  let seed = 7;
  const rnd = (n: number) => Math.floor(((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * n);
  const offsets = [0n, 1_764_000_000_123_456_789n, 2n ** 32n - 1n, 2n ** 64n - 1n, -5n, -(2n ** 40n)];
  for (let i = 0; i < 2000; i++) {
    const off = i < offsets.length ? offsets[i] : BigInt(rnd(2 ** 31)) * BigInt(rnd(2 ** 31)) * (rnd(2) ? 1n : -1n);
    const mono = i % 3 === 0 ? rnd(2 ** 32) : rnd(2 ** 31) * 2 ** 21 + rnd(2 ** 21); // below 2^52
    const x = { timestampHi: 0, timestampLo: 0 };
    new WallClock(off).stamp(x, mono);
    assert.equal(recordTimestampNs(x as ExchangeRecord), BigInt.asUintN(64, BigInt(mono) + off), `offset ${off}, mono ${mono}`);
  }
});

test('a protobuf exchange converts without loss', () => {
  const x = makeExchange({ timestampUnixNano: 1_764_000_000_123_456_789n, durationNs: 12_345n, requestBytes: 2n ** 40n, responseBytes: 7n });
  const r = toRecord(x);
  assert.equal(recordTimestampNs(r), 1_764_000_000_123_456_789n);
  assert.deepEqual([r.durationNs, r.requestBytes, r.responseBytes, r.path, r.status], [12_345, 2 ** 40, 7, x.path, x.status]);
});

test('ids: UUID-shaped, distinct, the same text the encoder writes', () => {
  const ids = new ExchangeIds();
  const seen = new Set<string>();
  const records: ExchangeRecord[] = [];
  for (let i = 0; i < 1000; i++) {
    const r = { ...toRecord(makeExchange()), idPrefix: ids.prefix, idSeq: ids.next() };
    const id = recordId(r);
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(!seen.has(id));
    seen.add(id);
    records.push(r);
  }
  const e = new ExchangeEntries(records.length);
  for (const r of records) e.add(r);
  const decoded = ExportRequest.decode(e.request('b', 'a', 'n'));
  assert.deepEqual(decoded.exchanges.map((x) => x.id), records.map(recordId));
  // The 48-bit counter in hex, across the 24-bit boundary and at its wrap.
  const b = Buffer.alloc(36);
  for (const seq of [0, 1, 2 ** 24 - 1, 2 ** 24, 2 ** 48 - 1, 0xabcdef123456]) {
    writeId(b, 0, ids.prefix, seq);
    assert.equal(b.toString('latin1', 24), seq.toString(16).padStart(12, '0'));
  }
});
