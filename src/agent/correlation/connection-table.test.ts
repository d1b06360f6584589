import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionTable } from './connection-table.ts';

test('connections that share a number key stay apart', () => {
  const t = new ConnectionTable<string>();
  const a = { tgid: 7, sockHi: 0xffff8880, sockLo: 0x1000 };
  const sameLowBits = [
    { tgid: 7, sockHi: 0xffff8881, sockLo: 0x1000 }, // another socket 4 GiB away
    { tgid: 7 + 2 ** 21, sockHi: 0xffff8880, sockLo: 0x1000 }, // a tgid equal in its low 21 bits
    { tgid: 8, sockHi: 0xffff8880, sockLo: 0x1000 }, // the same socket in a forked process
  ];
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
