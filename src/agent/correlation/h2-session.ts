// HTTP/2 on one connection as one process sees it (prior knowledge, or TLS with ALPN "h2":
// the capture sees the client preface either way): frames are followed in both directions,
// header blocks decoded with each direction's HPACK table, and each stream becomes one
// exchange when its response ends (END_STREAM) or it is reset.
//
// What the capture hides cannot be guessed: a syscall that moved more than the capture window
// can hide frame headers, and a full ring buffer whole syscalls. A hidden DATA payload is
// counted; after a hidden frame boundary that direction resumes at the next syscall that
// starts with whole frames (h2-frames.ts), its header table cleared unless only one stream's
// body can have gone by (fields from entries never seen are unknown, and a stream without a
// known method and path is not recorded). Protocol errors end the decoding of the connection,
// its open streams reported as they are. gRPC statuses: grpc-status.ts.
import { Buffer } from 'node:buffer';
import { HpackDecoder, UNKNOWN_FIELD, type HeaderField } from '../httpparse/hpack.ts';
import { headerText, type HttpHead } from '../httpparse/head.ts';
import type { Message } from '../httpparse/message-stream.ts';
import { redactHeadText } from '../httpparse/redact.ts';
import type { ConnectionSink, Pairing } from './connection.ts';
import { CONTINUATION, DATA, END_HEADERS, END_STREAM, FRAME_HEADER, FrameReader, GOAWAY, HEADERS, MAX_BLOCK, PADDED, PRIORITY, PUSH_PROMISE, RST_STREAM } from './h2-frames.ts';
import { grpcStatus, grpcTimeoutNs, httpStatusToGrpc, resetStatus } from './grpc-status.ts';

/** RST_STREAM's REFUSED_STREAM: the peer did not process the stream, and clients retry it. */
const REFUSED_STREAM = 7;
/** Streams open at once per connection; beyond, the oldest is reported unmatched. */
const MAX_STREAMS = 256;

interface H2Stream {
  req: Message;
  reqEndNs: number | null;
  res: Message | null;
  /** A gRPC call (content-type application/grpc…): a reset gives it a status. */
  grpc: boolean;
  /** The call's grpc-timeout in ns (-1: none): a cancel at or past it is a deadline. */
  timeoutNs: number;
  /** RST_STREAM's error code (-1: not reset). */
  rst: number;
}

/** A header block in pieces (HEADERS, then CONTINUATION until END_HEADERS). */
interface PendingBlock {
  sid: number;
  endStream: boolean;
  promise: boolean;
  parts: Uint8Array[];
  bytes: number;
}

export class H2Session {
  private readonly readers: [FrameReader, FrameReader];
  private readonly decoders = [new HpackDecoder(), new HpackDecoder()];
  private readonly blocks: (PendingBlock | null)[] = [null, null];
  /** Per direction: the block just decoded was cut by the window (its unseen rest may have changed the table). */
  private readonly cutBlock = [false, false];
  /** Per direction: frames went by unseen while this stream alone was answering (see lose()). */
  private readonly tentative: (number | null)[] = [null, null];
  private readonly open = new Map<number, H2Stream>();
  /** The server's GOAWAY said streams above this id are not processed. */
  private refusedAbove = Infinity;
  private broken = false;
  private readonly reqDir: number;
  private readonly conn: Pairing['conn'];
  private readonly role: 'server' | 'client';
  private readonly sink: ConnectionSink;
  private readonly keepBytes: number;
  private startNs = 0;
  private endNs = 0;

  /**
   * clientDir: the direction the client preface travels in (the requests' direction).
   * midstream: no preface will come (see midstreamClientDir); both header tables start unknown.
   */
  constructor(conn: Pairing['conn'], role: 'server' | 'client', sink: ConnectionSink, keepBytes: number, clientDir: number, midstream = false) {
    this.conn = conn;
    this.role = role;
    this.sink = sink;
    this.keepBytes = keepBytes;
    this.reqDir = clientDir;
    const reader = (dir: number) => new FrameReader(!midstream && dir === clientDir, midstream);
    this.readers = [reader(0), reader(1)];
    if (midstream) for (const d of this.decoders) d.gap();
  }

  /**
   * An h2c upgrade: the HTTP/1.1 request that asked for it is stream 1 (RFC 7540 3.2), already
   * sent whole; its answer comes as HTTP/2 frames, so the exchange is recorded as HTTP/2.
   */
  adoptUpgrade(req: Message, reqEndNs: number | null): void {
    req.head!.version = '2';
    this.open.set(1, { req, reqEndNs: reqEndNs ?? req.lastNs, res: null, grpc: false, timeoutNs: -1, rst: -1 });
  }

  /** Decoding goes on (false once something unseen made the header tables unreliable). */
  get alive(): boolean {
    return !this.broken;
  }

  push(dir: number, data: Uint8Array, len: number, startNs: number, endNs: number): void {
    if (this.broken) return;
    // Requests start when sent (egress) or when read (ingress), as for HTTP/1.
    this.startNs = dir === 1 ? startNs : endNs;
    this.endNs = endNs;
    const reader = this.readers[dir];
    const wasLost = reader.lost;
    const hidden = reader.push(data, len, (type, flags, sid, length, payload, cut) => this.frame(dir, type, flags, sid, length, payload, cut === true));
    if (reader.lost && !wasLost) this.lose(dir);
    if (hidden > 0) this.countHidden(dir, hidden);
  }

  /** Bytes not followed as frames belong to the one stream sending in that direction, if only one is (a download). */
  private countHidden(dir: number, n: number): void {
    let only: Message | null = null;
    for (const st of this.open.values()) {
      const msg = dir === this.reqDir ? (st.reqEndNs === null ? st.req : null) : st.res;
      if (!msg) continue;
      if (only) return;
      only = msg;
    }
    if (!only) return;
    only.bytes += n;
    only.framingLost = true; // the count is the syscalls', frame headers included
    only.lastNs = this.endNs;
  }

  /** Whole syscalls of this direction were lost: as a hidden frame boundary, found again at the next plausible frames. */
  afterLoss(dir: number): void {
    if (this.broken || this.readers[dir].lost) return;
    this.readers[dir].lost = true;
    this.lose(dir);
  }

  /**
   * A frame boundary went by unseen in one direction: the header block in progress is gone, and
   * blocks hidden with it may have changed that direction's table. Streams stay open: their
   * ends may still be seen, or the TTL reports them as they are.
   */
  private lose(dir: number): void {
    const safe = this.blocks[dir] === null && !this.cutBlock[dir] && dir !== this.reqDir ? this.soleAnswering() : null;
    this.blocks[dir] = null;
    this.cutBlock[dir] = false;
    // A large response with nothing else open (a unary call's 200 KB answer): what went by can
    // only be its own DATA (and control frames), unless its trailers did; which is told by
    // the first frame seen again (see frame()). Otherwise the table is unknown from here on.
    if (safe !== null) this.tentative[dir] = safe;
    else this.decoders[dir].gap();
    this.sink.desync();
  }

  /** The one open stream, if it is the only one and its response has begun (no other can start one unseen). */
  private soleAnswering(): number | null {
    if (this.open.size !== 1) return null;
    const [sid, st] = this.open.entries().next().value!;
    return st.res !== null ? sid : null;
  }

  private frame(dir: number, type: number, flags: number, sid: number, length: number, payload: Uint8Array | null, cut = false): void {
    if (this.broken) return;
    const tentative = this.tentative[dir];
    if (tentative !== null && sid !== 0 && (type === DATA || type === HEADERS || type === PUSH_PROMISE || type === RST_STREAM)) {
      // More of the stream that was alone: nothing but its DATA went by, and the table holds.
      // Anything else means its end (with trailers that may have added entries) went by too.
      this.tentative[dir] = null;
      if (sid !== tentative || !this.open.has(sid)) this.decoders[dir].gap();
    }
    const pending = this.blocks[dir];
    if (pending && type !== CONTINUATION) return this.fail(); // a header block must not be interrupted
    if (type === HEADERS || type === PUSH_PROMISE) {
      if (sid === 0) return this.fail();
      let off = 0;
      let end = length;
      if (flags & PADDED) {
        if (payload!.length < 1) return cut ? undefined : this.fail();
        const pad = payload![0];
        off = 1;
        end -= pad;
      }
      if (type === HEADERS && flags & PRIORITY) off += 5;
      if (type === PUSH_PROMISE) off += 4;
      if (cut) end = Math.min(end, payload!.length);
      if (off > end) return cut ? undefined : this.fail();
      const block: PendingBlock = { sid, endStream: (flags & END_STREAM) !== 0, promise: type === PUSH_PROMISE, parts: [payload!.subarray(off, end)], bytes: FRAME_HEADER + length };
      if (flags & END_HEADERS || cut) this.headerBlock(dir, block, cut);
      else this.blocks[dir] = block;
      return;
    }
    if (type === CONTINUATION) {
      if (!pending || pending.sid !== sid) return this.fail();
      pending.parts.push(payload!);
      pending.bytes += FRAME_HEADER + length;
      if (pending.bytes > MAX_BLOCK) return this.fail(); // frame headers counted too: a bound, not a measure
      if (flags & END_HEADERS || cut) {
        this.blocks[dir] = null;
        this.headerBlock(dir, pending, cut);
      }
      return;
    }
    if (type === GOAWAY && sid === 0 && payload && payload.length >= 8) {
      // Streams past the last one the sender processed never reached it: clients send them
      // again (on another connection), so they are not exchanges of this one.
      const last = ((payload[0] & 0x7f) * 2 ** 24) + ((payload[1] << 16) | (payload[2] << 8) | payload[3]);
      if (dir !== this.reqDir) {
        for (const id of [...this.open.keys()]) if (id > last) this.open.delete(id);
        this.refusedAbove = Math.min(this.refusedAbove, last); // and those the client opens after it
      }
      return;
    }
    const st = this.open.get(sid);
    if (!st) return;
    if (type === DATA) {
      const msg = dir === this.reqDir ? st.req : st.res;
      if (msg) {
        msg.bytes += FRAME_HEADER + length;
        msg.bodyBytes += length;
        msg.lastNs = this.endNs;
      }
      if (flags & END_STREAM) this.streamEnd(dir, sid, st);
    } else if (type === RST_STREAM) {
      if (st.res) st.res.framingLost = true;
      if (payload && payload.length >= 4) st.rst = ((payload[0] << 24) | (payload[1] << 16) | (payload[2] << 8) | payload[3]) >>> 0;
      // Refused before any processing (no response yet): retried by the client, like GOAWAY's.
      if (st.rst === REFUSED_STREAM && !st.res) this.open.delete(sid);
      else this.finish(sid, st);
    }
  }

  /** cut: only the block's first bytes were captured (the reader is lost right after: the table gets a gap). */
  private headerBlock(dir: number, block: PendingBlock, cut = false): void {
    const whole = block.parts.length === 1 ? block.parts[0] : Buffer.concat(block.parts);
    const fields = this.decoders[dir].decode(whole, 0, whole.length, cut);
    if (cut) this.cutBlock[dir] = true;
    if (fields === null) return this.fail();
    if (block.promise) return; // server push: decoded only to keep the table in step
    const st = this.open.get(block.sid);
    if (dir === this.reqDir) {
      if (st) {
        st.req.bytes += block.bytes; // trailers
      } else if (block.sid > this.refusedAbove) {
        return; // sent after the server's GOAWAY: never processed (decoded only to keep the table in step)
      } else {
        if (this.open.size >= MAX_STREAMS) {
          const [oldest, s] = this.open.entries().next().value!;
          this.finish(oldest, s);
        }
        const req = this.message(fields, 'request', block.bytes);
        req.framingLost = cut; // its sample lacks the fields past the window
        const timeout = fields.find((f) => f.name === 'grpc-timeout');
        this.open.set(block.sid, { req, reqEndNs: null, res: null, grpc: req.head!.contentType.startsWith('application/grpc'), timeoutNs: timeout ? grpcTimeoutNs(timeout.value) : -1, rst: -1 });
      }
      if (block.endStream) this.streamEnd(dir, block.sid, this.open.get(block.sid)!);
      return;
    }
    if (!st) {
      this.sink.orphanResponse();
      return;
    }
    const status = fields.find((f) => f.name === ':status');
    if (status && !st.res) {
      const code = Number(status.value);
      if (code >= 100 && code < 200) {
        st.req.lastNs = this.endNs; // interim: the final response follows
      } else {
        st.res = this.message(fields, 'response', block.bytes);
        st.res.framingLost = cut;
      }
    } else if (st.res) {
      st.res.bytes += block.bytes; // trailers: gRPC's status is there
      const g = fields.find((f) => f.name === 'grpc-status');
      if (g) st.res.head!.grpcStatus = grpcStatus(g.value);
    }
    if (block.endStream) this.streamEnd(dir, block.sid, st);
  }

  private streamEnd(dir: number, sid: number, st: H2Stream): void {
    if (dir === this.reqDir) st.reqEndNs = this.endNs;
    else this.finish(sid, st);
  }

  private finish(sid: number, st: H2Stream): void {
    this.open.delete(sid);
    // Its method or path came from a table entry the capture never saw: better no record than a
    // wrong one, counted with the responses that had no request to pair with (parse_errors).
    if (st.req.head!.method === '' || st.req.head!.target === '') {
      this.sink.orphanResponse();
      return;
    }
    const p: Pairing = { conn: this.conn, role: this.role, request: st.req, requestEndNs: st.reqEndNs, response: st.res, responseEndNs: st.res ? st.res.lastNs : this.endNs };
    if (st.grpc && !st.res?.head?.grpcStatus) {
      const http = st.res?.head?.status ?? 0;
      if (http >= 200 && http !== 200) p.grpcStatus = httpStatusToGrpc(http);
      else if (st.rst >= 0) p.grpcStatus = resetStatus(st.rst, st.timeoutNs >= 0 && this.endNs - st.req.startNs >= st.timeoutNs * 0.98 - 1e6);
    }
    this.sink.exchange(p);
  }

  /** Something went by unseen: what is open is reported as seen, the rest of the connection is not decoded. */
  private fail(): void {
    if (this.broken) return;
    this.broken = true;
    this.sink.desync();
    for (const [sid, st] of [...this.open]) {
      if (st.res) st.res.framingLost = true;
      this.finish(sid, st);
    }
  }

  /** Streams whose request started before cutoffNs are reported as they are. */
  expire(cutoffNs: number): void {
    for (const [sid, st] of [...this.open]) {
      if (st.req.startNs >= cutoffNs) continue;
      if (st.res) st.res.framingLost = true; // still streaming: reported with what was seen
      this.finish(sid, st);
    }
  }

  /** The connection closed: streams still open never ended, a response among them was cut short. */
  close(): void {
    for (const [sid, st] of [...this.open]) {
      if (st.res) st.res.framingLost = true;
      this.finish(sid, st);
    }
  }

  /** A stream's headers as the Message the correlator turns into a record (samples as HTTP/1-style text). */
  private message(fields: HeaderField[], kind: 'request' | 'response', bytes: number): Message {
    const head: HttpHead = {
      kind, method: '', target: '', status: 0, version: '2', host: '', userAgent: '', traceparent: '', contentType: '',
      contentLength: null, chunked: false, connectionClose: false, upgrade: false, h2c: false, heimdallUi: false, sensitive: false, grpcStatus: '', headLength: 0, complete: true,
    };
    let authority = '';
    let lines = '';
    for (const f of fields) {
      if (f === UNKNOWN_FIELD || f.name === '') continue;
      const v = f.value;
      switch (f.name) {
        case ':method': head.method = v; break;
        case ':path': head.target = headerText(v); break;
        case ':authority': authority = headerText(v); break;
        case ':status': head.status = Number(v) || 0; break;
        case 'host': head.host = headerText(v); break;
        case 'user-agent': head.userAgent = headerText(v); break;
        case 'traceparent': head.traceparent = v.slice(0, 256); break;
        case 'content-type': head.contentType = v.toLowerCase(); break;
        case 'content-length': if (/^\d{1,15}$/.test(v)) head.contentLength = Number(v); break;
        case 'x-heimdall-ui': head.heimdallUi = true; break;
        case 'grpc-status': head.grpcStatus = grpcStatus(v); break; // a trailers-only answer
      }
      if (f.name.charCodeAt(0) !== 0x3a /* : */) lines += `${f.name}: ${v}\r\n`;
    }
    if (head.method === 'CONNECT' && !head.target) head.target = authority;
    if (!head.host) head.host = authority;
    const start = kind === 'request' ? `${head.method} ${head.target} HTTP/2` : `HTTP/2 ${head.status}`;
    // Credential headers and query secrets are replaced before the sample exists.
    const sample = Buffer.from(redactHeadText(`${start}\r\n${lines}\r\n`), 'latin1');
    head.headLength = sample.length;
    const kept = sample.length > this.keepBytes ? sample.subarray(0, this.keepBytes) : sample;
    return {
      head, startNs: this.startNs, lastNs: this.endNs, bytes, kept, rawLen: kept.length, rawGap: false, headLength: sample.length, bodyBytes: 0, framingLost: false,
    };
  }
}
