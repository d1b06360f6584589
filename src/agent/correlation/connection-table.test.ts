import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionTable, numberKey, type SocketOf } from './connection-table.ts';

/** A socket of process `tgid` whose number key is k's (solved for the address's bits). */
function colliding(k: SocketOf, tgid: number, sockHiBase: number): SocketOf {
  const target = numberKey(k);
  const mixed = target ^ Math.imul(tgid, 0x9e3779b1);
  const sockHi = ((sockHiBase & ~15) | ((mixed >>> 26) & 15)) >>> 0;
  const low = (mixed ^ (sockHi << 26)) & 0x3ffffff;
  const key = { tgid, sockHi, sockLo: ((low << 6) | (k.sockLo & 63)) >>> 0 };
  assert.equal(numberKey(key), target);
  return key;
}

test('connections that share a number key stay apart', () => {
  const t = new ConnectionTable<string>();
  const a = { tgid: 7, sockHi: 0xffff8880, sockLo: 0x1000 };
  const sameLowBits = [
    colliding(a, 7, 0xffff8890), // another socket of the same process
    colliding(a, 4_000_000, 0xffff8880), // another process
    colliding(a, 8, 0xffff88a0), // a forked process
  ];
  assert.equal(new Set(sameLowBits.map((k) => JSON.stringify(k))).size, 3);
  t.set(a, 'a');
  sameLowBits.forEach((k, i) => t.set(k, `b${i}`));
  assert.equal(t.size, 4);
  assert.equal(t.get(a), 'a');
  sameLowBits.forEach((k, i) => assert.equal(t.get(k), `b${i}`));
  assert.equal(t.get({ tgid: 7, sockHi: 0xffff8882, sockLo: 0x1000 }), undefined);
  // The number key's holder goes; the others are still found, and the key can be taken again.
  assert.ok(t.delete(a));
  assert.equal(t.get(a), undefined);
  sameLowBits.forEach((k, i) => assert.equal(t.get({ ...k }), `b${i}`));
  t.set(a, 'a2');
  assert.equal(t.get(a), 'a2');
  assert.deepEqual([...t.entries()].map(([, v]) => v).sort(), ['a2', 'b0', 'b1', 'b2']);
  for (const [k] of t.entries()) t.delete(k);
  assert.equal(t.size, 0);
});
