import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import http2 from 'node:http2';
import { Duplex } from 'node:stream';
import { test } from 'node:test';
import { HpackDecoder, huffmanDecode } from './hpack.ts';

/** The header blocks Node's HTTP/2 client (nghttp2's encoder) writes for these requests, on one connection. */
async function encodedBlocks(requests: Record<string, string>[]): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  const sock = new Duplex({ read() {}, write(c: Buffer, _e, cb) { chunks.push(c); cb(); } });
  const s = http2.connect('http://example.test', { createConnection: () => sock });
  s.on('error', () => undefined);
  for (const h of requests) s.request(h).on('error', () => undefined);
  await new Promise((r) => setImmediate(r));
  s.destroy();
  const b = Buffer.concat(chunks);
  const blocks: Buffer[] = [];
  for (let off = 24; off + 9 <= b.length; ) {
    const len = b.readUIntBE(off, 3);
    if (b[off + 3] === 1) blocks.push(b.subarray(off + 9, off + 9 + len));
    off += 9 + len;
  }
  return blocks;
}

test('decodes what nghttp2 encodes: static, dynamic (reused across requests) and Huffman-coded fields', async () => {
  const every = Array.from({ length: 256 }, (_, i) => i).filter((i) => i === 9 || (i >= 0x20 && i !== 0x7f)).map((i) => String.fromCharCode(i)).join('');
  const requests: Record<string, string>[] = [
    { ':method': 'GET', ':path': '/api/items?page=2', 'user-agent': 'curl/7.88.1', accept: '*/*' },
    { ':method': 'POST', ':path': '/api/items', 'user-agent': 'curl/7.88.1', 'content-type': 'application/json', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    { ':method': 'GET', ':path': '/api/items?page=3', 'user-agent': 'curl/7.88.1', 'x-every-byte': every },
    { ':method': 'DELETE', ':path': '/' + 'long/'.repeat(300), 'user-agent': 'curl/7.88.1' },
  ];
  const blocks = await encodedBlocks(requests);
  assert.equal(blocks.length, requests.length);
  const d = new HpackDecoder();
  blocks.forEach((block, i) => {
    const fields = d.decode(block);
    assert.ok(fields, `block ${i} decodes`);
    const got = Object.fromEntries(fields.map((f) => [f.name, f.value]));
    for (const [k, v] of Object.entries(requests[i])) assert.equal(got[k], v, `${k} of request ${i}`);
    assert.match(got[':authority'], /^example\.test/);
  });
});

test('a block that refers past the table, or is cut, is refused rather than misread', async () => {
  const d = new HpackDecoder();
  assert.equal(d.decode(Buffer.from([0x80 | 70])), null); // dynamic index 70: table empty
  assert.equal(d.decode(Buffer.from([0x40, 0x05, 0x61])), null); // name length 5, one byte there
  assert.equal(d.decode(Buffer.from([0x80])), null); // index 0
  assert.deepEqual(d.decode(Buffer.from([0x82, 0x84])), [{ name: ':method', value: 'GET' }, { name: ':path', value: '/' }]);
  assert.equal(huffmanDecode(Buffer.from([0x00]), 0, 1), null); // padding that is not all ones
});

test('never throws on random blocks', () => {
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let i = 0; i < 20_000; i++) {
    const d = new HpackDecoder();
    const b = Buffer.from(Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256)));
    d.decode(b);
    d.decode(b);
  }
});
