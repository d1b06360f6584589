import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message } from '../httpparse/message-stream.ts';
import { PendingQueue, type PendingRequest } from './pending-queue.ts';

const req = (n: number): PendingRequest => ({ msg: { startNs: n } as Message, endNs: null, ghost: false });

test('a pending queue is first-in first-out across wrap-around and growth, like an array', () => {
  const q = new PendingQueue();
  const model: PendingRequest[] = [];
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let step = 0; step < 20_000; step++) {
    if (rnd() < 0.55) {
      const p = req(step);
      q.push(p);
      model.push(p);
    } else {
      assert.equal(q.shift(), model.shift(), `step ${step}`);
    }
    assert.equal(q.length, model.length);
    assert.equal(q.first, model[0]);
    if (model.length > 0) {
      const i = Math.floor(rnd() * model.length);
      assert.equal(q.at(i), model[i]);
      assert.equal(q.forMessage(model[i].msg), model[i]);
    }
    if (step % 5000 === 4999) {
      q.clear();
      model.length = 0;
    }
  }
  assert.equal(q.forMessage({ startNs: -1 } as Message), undefined);
});

test('allGhosts: true when empty or when every waiting request was reported', () => {
  const q = new PendingQueue();
  assert.ok(q.allGhosts());
  const a = req(1);
  q.push(a);
  assert.ok(!q.allGhosts());
  a.ghost = true;
  assert.ok(q.allGhosts());
});
