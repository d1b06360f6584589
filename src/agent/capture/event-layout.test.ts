// The TypeScript mirror must match the C header byte for byte: compile the header and compare.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EVENT, EV_CLOSE, EV_DATA, EV_EXIT, F_AFTER_LOSS, F_PIECES, F_TLS, HELLO, MAX_CAPTURE, STATS, STAT_NAMES } from './event-layout.ts';
import { decodeFrame, eventComm, formatIp, FrameSplitter, recordPieces } from './decode.ts';
import { tempDir } from '../../../test/helpers/temp-dir.ts';

const header = fileURLToPath(new URL('../../kernel/http_capture.h', import.meta.url));

test('event layout mirrors src/kernel/http_capture.h', () => {
  const dir = tempDir('hd-layout-');
  const fields = (struct: string, obj: Record<string, number>) =>
    Object.keys(obj).filter((k) => k !== 'size').map((k) => `printf("${struct}.${k}=%zu\\n", offsetof(struct ${struct}, ${k}));`).join('\n');
  writeFileSync(join(dir, 'l.c'), `#include <stdio.h>
#include <stddef.h>
#include <linux/types.h>
#include "${header}"
int main(void) {
printf("hd_event.size=%zu\\nhd_hello.size=%zu\\nhd_stats.size=%zu\\nmax=%d\\nstats=%d\\nflags=%d,%d,%d\\nkinds=%d,%d,%d\\n", sizeof(struct hd_event), sizeof(struct hd_hello), sizeof(struct hd_stats), HD_MAX_CAPTURE, HD_STAT_MAX, HD_F_TLS, HD_F_AFTER_LOSS, HD_F_PIECES, HD_EV_DATA, HD_EV_CLOSE, HD_EV_EXIT);
${fields('hd_event', EVENT)}
${fields('hd_hello', HELLO)}
${fields('hd_stats', STATS)}
return 0; }`);
  execFileSync('cc', ['-o', join(dir, 'l'), join(dir, 'l.c')]);
  const out = Object.fromEntries(execFileSync(join(dir, 'l'), { encoding: 'utf8' }).trim().split('\n').map((l) => l.split('=')).map(([k, v]) => [k, k === 'flags' || k === 'kinds' ? v : Number(v)]));
  assert.equal(out['hd_event.size'], EVENT.size);
  assert.equal(out['hd_hello.size'], HELLO.size);
  assert.equal(out['hd_stats.size'], STATS.size);
  assert.equal(out.max, MAX_CAPTURE);
  assert.equal(out.stats, STAT_NAMES.length);
  assert.equal(out.flags, `${F_TLS},${F_AFTER_LOSS},${F_PIECES}`);
  assert.equal(out.kinds, `${EV_DATA},${EV_CLOSE},${EV_EXIT}`);
  for (const [k, v] of Object.entries(EVENT)) if (k !== 'size') assert.equal(out[`hd_event.${k}`], v, k);
  for (const [k, v] of Object.entries(HELLO)) if (k !== 'size') assert.equal(out[`hd_hello.${k}`], v, k);
  for (const [k, v] of Object.entries(STATS)) if (k !== 'size') assert.equal(out[`hd_stats.${k}`], v, k);
});

test('frames split across chunks are reassembled; short or unknown frames are ignored', () => {
  const ev = Buffer.alloc(EVENT.size + 3);
  ev.writeUInt32LE(1, 0);
  ev.writeUInt32LE(99, EVENT.tgid);
  ev.writeUInt32LE(3, EVENT.captured);
  ev.writeUInt32LE(3, EVENT.len);
  ev.write('cur', EVENT.comm, 'latin1');
  ev.write('GET', EVENT.size, 'latin1');
  const framed = Buffer.concat([Buffer.from([ev.length, 0, 0, 0]), ev, Buffer.from([4, 0, 0, 0, 9, 9, 9, 9, 0, 0, 0, 0]), Buffer.from([ev.length, 0, 0, 0]), ev]);
  // Every chunk size: frames cut anywhere, the length prefix included, and empty frames.
  for (let step = 1; step <= framed.length; step++) {
    const got: Buffer[] = [];
    const s = new FrameSplitter();
    for (let i = 0; i < framed.length; i += step) {
      s.push(framed.subarray(i, i + step), (b, start, end) => {
        const d = decodeFrame(b, start, end);
        if (d && d.kind === 1) assert.ok(d.tgid === 99 && eventComm(d) === 'cur' && Buffer.from(d.data).toString() === 'GET', `step ${step}`);
        got.push(Buffer.from(b.subarray(start, end)));
      });
    }
    assert.deepEqual(got.map((g) => g.length), [ev.length, 4, 0, ev.length], `step ${step}`);
    assert.equal(decodeFrame(got[1]), null);
  }
  assert.equal(decodeFrame(Buffer.alloc(2)), null);
});

test('addresses format as IPv4, mapped IPv4 and compressed IPv6', () => {
  assert.equal(formatIp(2, Uint8Array.from([10, 1, 2, 3, ...new Array(12).fill(0)])), '10.1.2.3');
  assert.equal(formatIp(10, Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 127, 0, 0, 1])), '127.0.0.1');
  assert.equal(formatIp(10, Uint8Array.from([...new Array(15).fill(0), 1])), '::1');
  assert.equal(formatIp(10, Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])), '2001:db8::1');
});

/** What h2_walk.bpf.h writes: the head, then { u32 offset, u32 n, bytes }, then u32 head length. */
function framed(head: Buffer, extents: [number, Buffer][]): Buffer {
  const parts: Buffer[] = [head];
  for (const [off, b] of extents) {
    const h = Buffer.alloc(8);
    h.writeUInt32LE(off, 0);
    h.writeUInt32LE(b.length, 4);
    parts.push(h, b);
  }
  const tail = Buffer.alloc(4);
  tail.writeUInt32LE(head.length, 0);
  return Buffer.concat([...parts, tail]);
}

test('HTTP/2 frames past the capture window: pieces in syscall order; malformed layouts refused, never thrown', () => {
  const head = Buffer.from('head-bytes');
  const a = Buffer.from('frame-a');
  const b = Buffer.from('frame-b!!');
  const pieces = recordPieces(framed(head, [[100, a], [16_500, b]]), 20_000);
  assert.deepEqual(pieces?.map((p) => [Buffer.from(p.data).toString(), p.len]), [['head-bytes', 100], ['frame-a', 16_400], ['frame-b!!', 3_500]]);
  assert.deepEqual(recordPieces(framed(head, []), 50)?.map((p) => p.len), [50]);
  // Offsets that go back, overlap what was captured, or leave the syscall.
  assert.equal(recordPieces(framed(head, [[100, a], [90, b]]), 20_000), null);
  assert.equal(recordPieces(framed(head, [[5, a]]), 20_000), null);
  assert.equal(recordPieces(framed(head, [[19_998, a]]), 20_000), null);
  assert.equal(recordPieces(Buffer.from([1, 2]), 10), null);
  for (let i = 0; i < 20_000; i++) {
    const junk = Buffer.alloc(Math.floor(Math.random() * 64));
    for (let j = 0; j < junk.length; j++) junk[j] = Math.random() < 0.3 ? 0 : Math.floor(Math.random() * 256);
    const len = Math.floor(Math.random() * 100_000);
    const ps = recordPieces(junk, len);
    if (ps) assert.equal(ps.reduce((n, p) => n + p.len, 0), len);
  }
});
