// HTTP/2 framing on one direction of a connection: where frames start (the preface, a
// connection joined mid-way, a resync after unseen bytes) and the frames themselves, with the
// payloads of header blocks and the few control frames the session reads. No HPACK state here
// beyond the throw-away decoder that tells a joined connection's direction.
import { Buffer } from 'node:buffer';
import { HpackDecoder } from '../httpparse/hpack.ts';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER = 9;
export const DATA = 0, HEADERS = 1, RST_STREAM = 3, PUSH_PROMISE = 5, GOAWAY = 7, CONTINUATION = 9;
export const END_STREAM = 0x1, END_HEADERS = 0x4, PADDED = 0x8, PRIORITY = 0x20;
/** Larger header blocks than this end the decoding (nghttp2's default limit is 64 KiB too). */
export const MAX_BLOCK = 64 * 1024;

/** Could d start at a frame boundary? Every frame header in it must make sense (RFC 9113 6). */
function plausibleFrames(d: Uint8Array): boolean {
  let off = 0;
  let frames = 0;
  while (off + FRAME_HEADER <= d.length) {
    const len = (d[off] << 16) | (d[off + 1] << 8) | d[off + 2];
    const type = d[off + 3];
    const sidZero = (d[off + 5] & 0x7f) === 0 && d[off + 6] === 0 && d[off + 7] === 0 && d[off + 8] === 0;
    if (type > CONTINUATION || (d[off + 5] & 0x80) !== 0) return false;
    if (frames === 0 && type === CONTINUATION) return false; // a block's middle
    if (type === 4 || type === 6 || type === 7 ? !sidZero : type !== 8 && sidZero) return false;
    if ((type === 2 && len !== 5) || (type === 3 && len !== 4) || (type === 6 && len !== 8) || (type === 8 && len !== 4) || (type === 4 && len % 6 !== 0)) return false;
    off += FRAME_HEADER + len;
    frames++;
  }
  return frames > 0 && off >= d.length;
}

/**
 * Does this payload start with the HTTP/2 client connection preface? A write may carry only
 * its first bytes (a relay passing on what it read): "PRI " is enough, as no HTTP/1 method
 * is PRI, and the frame reader skips the rest of the preface in the writes that follow.
 */
export function startsH2Preface(d: Uint8Array): boolean {
  const n = Math.min(d.length, PREFACE.length);
  if (n < 4) return false;
  for (let i = 0; i < n; i++) if (d[i] !== PREFACE[i]) return false;
  return true;
}

/** Under four bytes that may begin the preface ("PR"): the kernel ships such a start as a record of its own. */
export function beginsH2Preface(d: Uint8Array): boolean {
  if (d.length === 0 || d.length >= 4) return false;
  for (let i = 0; i < d.length; i++) if (d[i] !== PREFACE[i]) return false;
  return true;
}

/**
 * A connection first seen after its preface (open before the agent started): when the payload
 * is whole frames starting with a complete HEADERS block, the direction requests travel in,
 * told by that block's pseudo-headers (what a table entry never seen hides is unknown).
 * null: not HTTP/2 as far as these bytes tell.
 */
export function midstreamClientDir(dir: number, d: Uint8Array): number | null {
  if (d.length < FRAME_HEADER || d[3] !== HEADERS || !(d[4] & END_HEADERS) || !plausibleFrames(d)) return null;
  let off = FRAME_HEADER;
  let end = FRAME_HEADER + ((d[0] << 16) | (d[1] << 8) | d[2]);
  if (d[4] & PADDED) end -= d[off++];
  if (d[4] & PRIORITY) off += 5;
  if (off >= end || end > d.length) return null; // a block cut by the capture window tells nothing
  const decoder = new HpackDecoder();
  decoder.gap();
  const fields = decoder.decode(d, off, end);
  if (!fields) return null;
  if (fields.some((f) => f.name === ':method' || f.name === ':path')) return dir;
  if (fields.some((f) => f.name === ':status')) return 1 - dir;
  return null;
}

/** cut: the payload is only the frame's first bytes (the capture window ended inside it). */
export type FrameSink = (type: number, flags: number, sid: number, length: number, payload: Uint8Array | null, cut?: boolean) => void;

/** One direction's byte stream → frames. Payloads are kept only where header blocks are. */
export class FrameReader {
  lost = false;
  private prefaceLeft: number;
  private readonly hdr = new Uint8Array(FRAME_HEADER);
  private hdrHave = 0;
  private type = 0;
  private flags = 0;
  private sid = 0;
  private length = 0;
  private left = -1; // payload bytes still to come; -1: between frames
  private buf: Uint8Array | null = null;

  /** midstream: the connection was open before capture; frames are found at the first plausible syscall. */
  constructor(preface: boolean, midstream = false) {
    this.prefaceLeft = preface ? PREFACE.length : 0;
    this.lost = midstream;
  }

  /** Returns how many of the syscall's bytes could not be followed as frames. */
  push(d: Uint8Array, len: number, onFrame: FrameSink): number {
    if (this.lost) {
      // Writers send whole frames per syscall and readers mostly read what was written: a
      // payload that starts with a plausible chain of frames is taken as a frame boundary.
      if (!plausibleFrames(d)) return len;
      this.lost = false;
      this.hdrHave = 0;
      this.left = -1;
      this.buf = null;
    }
    let off = 0;
    const captured = d.length;
    while (off < captured && !this.lost) {
      if (this.prefaceLeft > 0) {
        const take = Math.min(this.prefaceLeft, captured - off);
        off += take;
        this.prefaceLeft -= take;
      } else if (this.left < 0) {
        while (this.hdrHave < FRAME_HEADER && off < captured) this.hdr[this.hdrHave++] = d[off++];
        if (this.hdrHave === FRAME_HEADER) this.begin(onFrame);
      } else {
        const take = Math.min(this.left, captured - off);
        if (this.buf) this.buf.set(d.subarray(off, off + take), this.length - this.left);
        off += take;
        this.left -= take;
        if (this.left === 0) this.deliver(onFrame);
      }
    }
    const gap = len - captured;
    if (gap <= 0 || this.lost) return 0;
    // Uncaptured bytes are harmless only inside a payload that is not kept (DATA and the like).
    if (this.left >= gap && this.buf === null && this.prefaceLeft === 0) {
      this.left -= gap;
      if (this.left === 0) this.deliver(onFrame);
      return 0;
    }
    // A header block cut by the window (a large cookie, say): its first fields (the
    // pseudo-headers come first) are still worth decoding; what follows it is unseen.
    if (this.buf !== null && this.left > 0 && this.type !== PUSH_PROMISE) {
      const have = this.buf.subarray(0, this.length - this.left);
      this.buf = null;
      this.left = -1;
      onFrame(this.type, this.flags, this.sid, this.length, have, true);
    }
    // A DATA frame the gap ran past is never delivered: what was read of it is hidden too.
    const partial = this.buf === null && this.left > 0 ? FRAME_HEADER + this.length - this.left : 0;
    this.lost = true;
    return gap + partial;
  }

  private begin(onFrame: FrameSink): void {
    const h = this.hdr;
    this.length = (h[0] << 16) | (h[1] << 8) | h[2];
    this.type = h[3];
    this.flags = h[4];
    this.sid = ((h[5] & 0x7f) * 2 ** 24) + ((h[6] << 16) | (h[7] << 8) | h[8]);
    this.hdrHave = 0;
    const keep = this.type === HEADERS || this.type === CONTINUATION || this.type === PUSH_PROMISE || this.type === RST_STREAM || this.type === GOAWAY;
    if (keep && this.length > MAX_BLOCK) {
      this.lost = true;
      return;
    }
    this.buf = keep ? new Uint8Array(this.length) : null;
    this.left = this.length;
    if (this.left === 0) this.deliver(onFrame);
  }

  private deliver(onFrame: FrameSink): void {
    const payload = this.buf;
    this.buf = null;
    this.left = -1;
    onFrame(this.type, this.flags, this.sid, this.length, payload);
  }
}
