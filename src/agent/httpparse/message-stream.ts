// Frames the HTTP/1 messages of one direction of one connection from captured syscall
// payloads. Each payload is a captured prefix plus a count of bytes not copied (a gap):
// Content-Length bodies are counted exactly through gaps, chunked bodies through gaps that
// fall inside chunk data; when framing is lost the message ends at the next message head,
// at activity in the other direction, at close, or after an idle spell.
import { Buffer } from 'node:buffer';
import { ChunkedDecoder } from './chunked.ts';
import { parseHead, startsHttpMessage, type HttpHead } from './head.ts';

export type BodyMode = 'none' | 'length' | 'chunked' | 'close' | 'unknown';

export interface Message {
  head: HttpHead | null;
  startNs: number;
  lastNs: number;
  bytes: number;
  /** The first bytes of the message (head, then body), contiguous, up to the sample limit: kept[0, rawLen). */
  kept: Buffer | null;
  rawLen: number;
  rawGap: boolean;
  headLength: number;
  bodyBytes: number;
  framingLost: boolean;
}

export interface StreamHooks {
  /** Head parsed: returns how the body is framed (the connection knows e.g. the request method). */
  onHead(msg: Message): { mode: BodyMode; length?: number };
  onEnd(msg: Message, endNs: number): void;
  onNoise(bytes: number): void;
  /**
   * Bytes not captured, or taken for a message whose framing was lost, may have held whole
   * messages (how many is unknown): the connection stops trusting pairing by order.
   */
  onHidden(): void;
  /**
   * The message that just ended switched the connection to another protocol this stream does
   * not frame (an h2c upgrade's 101): the rest of the payload, captured and not, is handed
   * over instead of being read as HTTP/1.
   */
  switchedTo?(): ((data: Uint8Array, len: number, startNs: number, endNs: number) => void) | null;
}

const MAX_HEAD_BUFFER = 16 * 1024;
/** No HTTP/1 message is shorter ("HTTP/1.1 200\r\n\r\n"): a smaller gap hides none whole. A
 * message only begun in one is noticed when the next payload starts inside it (noise). */
const MIN_MESSAGE_BYTES = 16;
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

function endsWithLastChunk(d: Uint8Array): boolean {
  if (d.length < LAST_CHUNK.length) return false;
  for (let i = 0; i < LAST_CHUNK.length; i++) if (d[d.length - LAST_CHUNK.length + i] !== LAST_CHUNK[i]) return false;
  return d.length === LAST_CHUNK.length || d[d.length - 6] === 0x0a;
}

export class MessageStream {
  private mode: 'idle' | 'head' | BodyMode = 'idle';
  private msg: Message | null = null;
  private remaining = 0;
  private chunk: ChunkedDecoder | null = null;
  /** Earlier pieces of a head that spans payloads (null for the usual head in one payload). */
  private headParts: Buffer[] | null = null;
  private headBuffered = 0;
  /** The current head's first bytes passed startsHttpMessage already (parseHead need not look again). */
  private startSeen = false;
  /** Bytes taken for the current message since its framing was lost: they may have held messages. */
  private lostBytes = 0;
  private readonly hooks: StreamHooks;
  private readonly keepBytes: number;
  /** ingress: data is there when read returns (end); egress: sending starts at entry (start). */
  private readonly useStart: boolean;

  constructor(hooks: StreamHooks, keepBytes: number, useStart: boolean) {
    this.hooks = hooks;
    this.keepBytes = keepBytes;
    this.useStart = useStart;
  }

  get current(): Message | null {
    return this.msg;
  }

  /** Ends a message whose end cannot be framed ('unknown' or read-until-close). */
  finishOpen(endNs?: number): void {
    if (this.mode === 'head') this.reset(); // a head cut off by close or idleness is noise
    else if (this.msg && (this.mode === 'unknown' || this.mode === 'close')) {
      const hid = this.mode === 'unknown' && this.lostBytes >= MIN_MESSAGE_BYTES;
      this.finish(endNs ?? this.msg.lastNs);
      if (hid) this.hooks.onHidden(); // as in push: what it took may have held messages
    }
  }

  get openMode(): string {
    return this.mode;
  }

  push(data: Uint8Array, len: number, startNs: number, endNs: number): void {
    const captured = data.length;
    let off = 0;
    const ts = this.useStart ? startNs : endNs;
    if (this.mode === 'unknown' && this.msg) {
      // What the message took since its framing was lost may have held whole messages (a
      // pipelined request written a byte at a time, or inside a write with a body's end): the
      // connection is told, after this one ends and pairs.
      const hid = this.lostBytes >= MIN_MESSAGE_BYTES;
      if (startsHttpMessage(data)) {
        this.finish(this.msg.lastNs);
        if (hid) this.hooks.onHidden();
      } else if (this.msg.head?.chunked && len === captured && endsWithLastChunk(data)) {
        // Framing was lost earlier, but this write visibly ends the chunked body.
        this.body(data, 0, captured, this.msg);
        this.finish(endNs);
        if (hid || captured >= MIN_MESSAGE_BYTES + LAST_CHUNK.length) this.hooks.onHidden();
        return;
      }
    }
    while (off < captured) {
      if (this.mode === 'idle') {
        // Empty lines before a message are allowed (RFC 9112 2.2; some clients end a POST body with one).
        while (off < captured && (data[off] === 0x0d || data[off] === 0x0a)) off++;
        if (off === captured) break;
        this.startSeen = startsHttpMessage(data, off);
        if (!this.startSeen && !(captured - off < 8 && len === captured)) {
          this.hooks.onNoise(captured - off);
          break;
        }
        this.msg = { head: null, startNs: ts, lastNs: endNs, bytes: 0, kept: null, rawLen: 0, rawGap: false, headLength: 0, bodyBytes: 0, framingLost: false };
        this.mode = 'head';
        this.headParts = null;
        this.headBuffered = 0;
      }
      const msg = this.msg!;
      msg.lastNs = endNs;
      if (this.mode === 'head') {
        const piece = off === 0 && data instanceof Buffer ? data : Buffer.from(data.buffer, data.byteOffset + off, captured - off);
        this.headBuffered += piece.length;
        const buf = this.headParts === null ? piece : Buffer.concat([...this.headParts, piece]);
        const more = len === captured && this.headBuffered < MAX_HEAD_BUFFER;
        const r = parseHead(buf, more, this.startSeen);
        if (r.status === 'need-more') {
          (this.headParts ??= []).push(piece);
          msg.bytes += piece.length;
          break;
        }
        if (r.status === 'not-http') {
          this.hooks.onNoise(piece.length);
          this.reset();
          break;
        }
        if (!r.head.complete && off > 0 && this.headParts === null && buf.indexOf(0x0a) < 0) {
          // A pipelined request whose request line the window cut: its path is cut anywhere,
          // and a record of a path never asked for would be worse than none. Pairing stops.
          this.reset();
          this.hooks.onHidden();
          break;
        }
        const before = this.headBuffered - piece.length;
        const used = Math.max(0, Math.min(piece.length, r.head.headLength - before));
        msg.head = r.head;
        msg.headLength = r.head.headLength;
        this.keep(buf, 0, r.head.headLength, msg);
        msg.bytes += used;
        off += used;
        this.headParts = null;
        this.enterBody(r.head.complete);
        const next = r.head.status === 101 ? this.hooks.switchedTo?.() : null; // only a 101 switches
        if (next) {
          if (len > off) next(data.subarray(off), len - off, startNs, endNs);
          return;
        }
        if ((this.mode as string) === 'idle') continue;
        if (!r.head.complete) {
          break;
        }
        continue;
      }
      const avail = captured - off;
      if (this.mode === 'length') {
        const take = Math.min(this.remaining, avail);
        this.body(data, off, take, msg);
        off += take;
        this.remaining -= take;
        if (this.remaining === 0) this.finish(endNs);
      } else if (this.mode === 'chunked') {
        const step = this.chunk!.feed(data, off, captured);
        const take = step.status === 'done' ? step.consumed : avail;
        this.body(data, off, take, msg);
        off += take;
        if (step.status === 'done') this.finish(endNs);
        else if (step.status === 'lost') {
          this.lose(msg);
          this.lostBytes = avail;
        }
      } else {
        this.body(data, off, avail, msg);
        if (this.mode === 'unknown') this.lostBytes += avail;
        off = captured;
      }
    }
    const gap = len - captured;
    if (gap > 0 && this.msg && this.mode !== 'idle') this.skipGap(gap, endNs);
    // A syscall that moved more than one message (pipelining) and more bytes than the capture
    // window: what follows the last message seen is the start of messages never seen.
    else if (gap >= MIN_MESSAGE_BYTES && this.mode === 'idle' && captured > 0) this.hooks.onHidden();
  }

  private skipGap(gap: number, endNs: number): void {
    const msg = this.msg!;
    msg.rawGap = true;
    if (this.mode === 'length') {
      const take = Math.min(this.remaining, gap);
      msg.bytes += take;
      msg.bodyBytes += take;
      this.remaining -= take;
      if (this.remaining === 0) this.finish(endNs);
      // Bytes past the body were the start of a message we cannot see: wait for the next head.
      if (gap - take >= MIN_MESSAGE_BYTES) this.hooks.onHidden();
    } else if (this.mode === 'chunked') {
      msg.bytes += gap;
      msg.bodyBytes += gap;
      if (this.chunk!.skip(gap).status === 'lost') {
        // The body's end went by in the gap, perhaps with messages after it.
        this.lose(msg);
        this.lostBytes = gap;
        if (gap >= MIN_MESSAGE_BYTES) this.hooks.onHidden();
      }
    } else {
      msg.bytes += gap;
      msg.bodyBytes += gap;
      if (this.mode === 'unknown') this.lostBytes += gap;
      if (this.mode === 'unknown' && gap >= MIN_MESSAGE_BYTES) this.hooks.onHidden();
    }
  }

  private enterBody(headComplete: boolean): void {
    const msg = this.msg!;
    const framing = this.hooks.onHead(msg);
    // A head cut by the capture window hides where it ends (and its framing headers may be in
    // the part not seen): the message stays open and counts the bytes that follow.
    if (!headComplete) {
      this.lose(msg);
      return;
    }
    if (framing.mode === 'none' || (framing.mode === 'length' && (framing.length ?? 0) === 0)) {
      this.finish(msg.lastNs);
      return;
    }
    this.mode = framing.mode;
    if (framing.mode === 'length') this.remaining = framing.length ?? 0;
    if (framing.mode === 'chunked') this.chunk = new ChunkedDecoder();
  }

  private lose(msg: Message): void {
    msg.framingLost = true;
    this.mode = 'unknown';
    this.lostBytes = 0;
  }

  private body(data: Uint8Array, off: number, n: number, msg: Message): void {
    if (n <= 0) return;
    msg.bytes += n;
    msg.bodyBytes += n;
    this.keep(data, off, n, msg);
  }

  /** Keeps the first keepBytes of the message, contiguous: the sample is cut from them.
   * Copied into one buffer per message: the frame buffer is not ours to keep. */
  private keep(b: Uint8Array, off: number, n: number, msg: Message): void {
    if (msg.rawGap) return;
    const take = Math.min(n, this.keepBytes - msg.rawLen);
    if (take <= 0) return;
    msg.kept ??= Buffer.allocUnsafe(this.keepBytes);
    // Buffer#copy makes no view object for the source range (capture hands over Buffers).
    if (b instanceof Buffer) b.copy(msg.kept, msg.rawLen, off, off + take);
    else msg.kept.set(b.subarray(off, off + take), msg.rawLen);
    msg.rawLen += take;
  }

  private finish(endNs: number): void {
    const msg = this.msg;
    this.reset();
    if (msg) this.hooks.onEnd(msg, endNs);
  }

  private reset(): void {
    this.mode = 'idle';
    this.msg = null;
    this.remaining = 0;
    this.chunk = null;
    this.headParts = null;
    this.headBuffered = 0;
  }
}
