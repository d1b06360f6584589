import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recordTimestampNs, toRecord, WallClock, type ExchangeRecord } from './exchange-record.ts';
import { makeExchange } from '../../../test/helpers/fixtures.ts';

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
