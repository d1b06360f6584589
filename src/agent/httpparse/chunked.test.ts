import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkedDecoder } from './chunked.ts';

const b = (s: string) => Buffer.from(s, 'latin1');

test('decodes a whole chunked body and reports where it ends', () => {
  const d = new ChunkedDecoder();
  const body = b('5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nNEXT');
  const r = d.feed(body);
  assert.deepEqual(r, { status: 'done', consumed: body.length - 4 });
});

test('handles splits at every byte', () => {
  const body = b('3\r\nabc\r\n0\r\nTrailer: x\r\n\r\n');
  for (let cut = 1; cut < body.length; cut++) {
    const d = new ChunkedDecoder();
    assert.equal(d.feed(body.subarray(0, cut)).status, 'more');
    assert.equal(d.feed(body.subarray(cut)).status, 'done', `cut at ${cut}`);
  }
});

test('gaps inside chunk data are skipped; gaps over framing lose it', () => {
  const d = new ChunkedDecoder();
  d.feed(b('a\r\n12'));
  assert.equal(d.skip(8).status, 'more');
  assert.deepEqual(d.feed(b('\r\n0\r\n\r\n')), { status: 'done', consumed: 7 });
  const lost = new ChunkedDecoder();
  lost.feed(b('2\r\nab'));
  assert.equal(lost.skip(5).status, 'lost');
  assert.equal(new ChunkedDecoder().feed(b('zz\r\n')).status, 'lost');
});
