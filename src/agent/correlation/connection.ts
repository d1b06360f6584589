// One TCP connection as one process sees it: two message streams and a FIFO of requests
// waiting for their responses. HTTP/1 answers in order, so keep-alive and pipelined
// exchanges pair by position.
import { startsHttpMessage } from '../httpparse/head.ts';
import { MessageStream, type BodyMode, type Message } from '../httpparse/message-stream.ts';
import { Buffer } from 'node:buffer';
import { beginsH2Preface, midstreamClientDir, startsH2Preface } from './h2-frames.ts';
import { H2Session } from './h2-session.ts';
import { PendingQueue, type PendingRequest } from './pending-queue.ts';

export const DIR_INGRESS = 0;
export const DIR_EGRESS = 1;

export interface ConnMeta {
  tgid: number;
  fd: number;
  comm: string;
  family: number;
  laddr: string;
  lport: number;
  raddr: string;
  rport: number;
  /** Bytes come in clear from the TLS library (the connection is HTTPS). */
  tls?: boolean;
}

export interface Pairing {
  conn: Connection;
  role: 'server' | 'client';
  request: Message;
  requestEndNs: number | null;
  response: Message | null;
  responseEndNs: number;
  /** gRPC status known without trailers (an HTTP/2 stream reset): used when the response has none. */
  grpcStatus?: string;
}

export interface ConnectionSink {
  exchange(p: Pairing): void;
  orphanResponse(): void;
  noise(bytes: number): void;
  /** Pairing stopped: messages went by unseen (see Connection.onHidden). */
  desync(): void;
}

/** Requests waiting for their answers, per connection (a deep pipeline: wrk, or a 100-request write). */
const MAX_PENDING = 256;

export class Connection {
  readonly meta: ConnMeta;
  role: 'server' | 'client' | null = null;
  lastNs = 0;
  upgraded = false;
  /** A CONNECT was answered 2xx: the bytes that follow are the tunnel's (TLS to the target, often). */
  tunnel = false;
  /** Messages went by unseen: pairing waits for a round trip seen whole (see onHidden). */
  private unaligned = false;
  /** This spell of unaligned pairing was counted (sink.desync) already. */
  private desynced = false;
  /** A request seen while unaligned: reported unmatched when it ends (its answer cannot be told). */
  private unpaired: Message | null = null;
  private lastRequestEndNs = 0;
  private lastResponseEndNs = 0;
  readonly pending = new PendingQueue();
  private readonly streams: [MessageStream, MessageStream];
  private readonly sink: ConnectionSink;
  private respTarget: PendingRequest | null = null;
  /** Answers still due to requests given up on at MAX_PENDING: they go by unpaired, in order. */
  private givenUp = 0;
  /** Set when the connection speaks HTTP/2 (it opened with the client preface). */
  private h2: H2Session | null = null;
  /** The connection's first bytes, under four, that may begin the preface (see push). */
  private prefaceStart: { dir: number; bytes: Buffer } | null = null;
  private readonly keepBytes: number;

  constructor(meta: ConnMeta, keepBytes: number, sink: ConnectionSink) {
    this.meta = meta;
    this.sink = sink;
    this.keepBytes = keepBytes;
    const hooks = (dir: number) => ({
      onHead: (msg: Message) => this.onHead(dir, msg),
      onEnd: (msg: Message, endNs: number) => this.onEnd(dir, msg, endNs),
      onNoise: (n: number) => {
        sink.noise(n);
        // Perhaps a request whose start went unseen (taken for a body): it ended now as far as
        // realigning knows, so a response that ended before it does not realign.
        if (dir === this.reqDir) this.lastRequestEndNs = this.lastNs;
        // Bytes that are no message where one was due: what they hid is unknown.
        this.onHidden(dir);
      },
      onHidden: () => this.onHidden(dir),
      // After an h2c upgrade's 101, what follows in the same payload is HTTP/2 already.
      switchedTo: () => (this.h2 ? (data: Uint8Array, len: number, startNs: number, endNs: number) => this.h2!.push(dir, data, len, startNs, endNs) : null),
    });
    this.streams = [new MessageStream(hooks(DIR_INGRESS), keepBytes, false), new MessageStream(hooks(DIR_EGRESS), keepBytes, true)];
  }

  private get reqDir(): number {
    return this.role === 'client' ? DIR_EGRESS : DIR_INGRESS;
  }

  /** An HTTP/2 connection still decoded: its header tables live here, so idleness must not drop it. */
  get keepsState(): boolean {
    return this.h2?.alive === true;
  }

  /** Records of an HTTP/2 connection were lost before this one (the kernel's ring was full). */
  afterLoss(dir: number): void {
    this.h2?.afterLoss(dir);
  }

  push(dir: number, data: Uint8Array, len: number, startNs: number, endNs: number): void {
    this.lastNs = endNs;
    if (this.h2) {
      this.h2.push(dir, data, len, startNs, endNs);
      return;
    }
    if (this.upgraded) return;
    if (this.role === null && this.pending.length === 0) {
      // A preface begun in a record of under four bytes ("PR", then "I * HTTP/2.0…"): joined here.
      const early = this.prefaceStart?.dir === dir ? this.prefaceStart.bytes : null;
      this.prefaceStart = null;
      if (early || this.streams[dir].openMode === 'idle') {
        const d = early ? Buffer.concat([early, data]) : data;
        // HTTP/2 from its preface, or joined mid-way at a whole HEADERS frame (opened before the agent).
        const preface = startsH2Preface(d);
        const clientDir = preface ? dir : early || startsHttpMessage(d) ? null : midstreamClientDir(dir, d);
        if (clientDir !== null) {
          this.role = clientDir === DIR_EGRESS ? 'client' : 'server';
          this.h2 = new H2Session(this, this.role, this.sink, this.keepBytes, clientDir, !preface);
          this.h2.push(dir, d, len + d.length - data.length, startNs, endNs);
          return;
        }
        if (beginsH2Preface(d)) this.prefaceStart = { dir, bytes: Buffer.from(d) };
      }
    }
    this.streams[dir].push(data, len, startNs, endNs);
  }

  private onHead(dir: number, msg: Message): { mode: BodyMode; length?: number } {
    const head = msg.head!;
    if (head.kind === 'request') {
      if (this.role === null) this.role = dir === DIR_INGRESS ? 'server' : 'client';
      if (dir !== this.reqDir) return { mode: 'unknown' };
      const resp = this.streams[1 - dir];
      // A new request ends a response whose length could not be framed (or that would run to
      // close). Found by its head, not its first write: that may be a single byte.
      if (resp.openMode === 'unknown' || resp.openMode === 'close') resp.finishOpen();
      // Aligned again once a request starts after a response that ended after the request
      // before it, with nothing in flight: the client waited for its answer, so this one is
      // answered next. (One begun before that response may be answered by an unseen one.)
      const waited = msg.startNs >= this.lastResponseEndNs && this.lastResponseEndNs >= this.lastRequestEndNs;
      if (this.unaligned && this.pending.length === 0 && resp.openMode === 'idle' && waited) {
        this.unaligned = false;
        this.desynced = false;
      }
      if (this.unaligned) {
        this.desync();
        this.unpaired = msg;
        return requestFraming(head);
      }
      // A new request with no response in flight means expired requests will never be answered.
      while (this.pending.first?.ghost && resp.openMode === 'idle') this.pending.shift();
      if (this.pending.length >= MAX_PENDING) {
        // Bounded: the oldest waiting request is given up on, and said so. Its answer will
        // still come first, and must not be taken for the next request's.
        const dropped = this.pending.shift()!;
        if (this.respTarget === dropped) this.respTarget = null; // its answer, under way, ends unpaired
        this.givenUp++;
        if (!dropped.ghost) this.sink.exchange({ conn: this, role: this.role, request: dropped.msg, requestEndNs: dropped.endNs, response: null, responseEndNs: 0 });
      }
      this.pending.push({ msg, endNs: null, ghost: false });
      return requestFraming(head);
    }
    if (this.role === null || dir === this.reqDir) return { mode: 'unknown' };
    // A final answer ends a request whose framing went by unseen (a chunk size in a gap, a
    // head cut by the window): its server read all of it or gave up. Left open, it took the
    // next request for body when that one's first write was too short to know (a byte).
    const reqStream = this.streams[this.reqDir];
    if (!interim(head.status) && reqStream.openMode === 'unknown') reqStream.finishOpen();
    const req = this.givenUp > 0 ? null : (this.pending.first ?? null);
    this.respTarget = req;
    const status = head.status;
    const method = req?.msg.head?.method ?? '';
    if (status === 101 || (method === 'CONNECT' && status >= 200 && status < 300)) return { mode: 'none' };
    if ((status >= 100 && status < 200) || status === 204 || status === 304 || method === 'HEAD') return { mode: 'none' };
    if (head.chunked) return { mode: 'chunked' };
    if (head.contentLength !== null) return { mode: 'length', length: head.contentLength };
    return { mode: 'close' };
  }

  private onEnd(dir: number, msg: Message, endNs: number): void {
    const head = msg.head;
    if (!head) return;
    if (head.kind === 'request') {
      if (dir === this.reqDir) this.lastRequestEndNs = endNs;
      if (msg === this.unpaired) {
        this.unpaired = null;
        this.sink.exchange({ conn: this, role: this.role!, request: msg, requestEndNs: endNs, response: null, responseEndNs: 0 });
        return;
      }
      const p = this.pending.forMessage(msg);
      if (p) p.endNs = endNs;
      return;
    }
    if (this.role === null || dir === this.reqDir) return;
    if (interim(head.status)) return; // the final response follows
    this.lastResponseEndNs = endNs;
    if (this.givenUp > 0 && this.respTarget === null) {
      this.givenUp--; // the answer to a request already reported unmatched
      return;
    }
    // Unaligned, the requests still waiting were seen before anything went unseen and are
    // answered first; once they are, whose answer this is cannot be known.
    if (this.unaligned && this.pending.length === 0) return;
    const req = this.respTarget && this.pending.first === this.respTarget ? this.pending.shift()! : null;
    this.respTarget = null;
    if (head.status === 101 && head.h2c && req && !req.ghost && req.msg.head?.h2c) {
      // h2c upgrade (RFC 7540 3.2): the request becomes stream 1, answered in HTTP/2; its
      // exchange is recorded when that answer ends, not as a 101.
      this.h2 = new H2Session(this, this.role, this.sink, this.keepBytes, this.reqDir);
      this.h2.adoptUpgrade(req.msg, req.endNs);
      return;
    }
    const tunnel = req?.msg.head?.method === 'CONNECT' && head.status >= 200 && head.status < 300;
    if (head.status === 101 || tunnel) this.upgraded = true;
    if (tunnel) this.tunnel = true;
    if (!req) {
      this.sink.orphanResponse();
      return;
    }
    if (req.ghost) return;
    this.sink.exchange({ conn: this, role: this.role, request: req.msg, requestEndNs: req.endNs, response: msg, responseEndNs: endNs });
  }

  private desync(): void {
    if (this.desynced) return;
    this.desynced = true;
    this.sink.desync();
  }

  /**
   * A capture window cut a syscall that carried more than one message (pipelining): messages
   * went by unseen. Unseen requests are answered after the ones waiting, so those still pair,
   * but no request seen later can. Unseen responses may have answered any of the waiting
   * requests: pairing by order would lie, so those are reported unmatched. Either way pairing
   * resumes at the next round trip seen whole.
   */
  private onHidden(dir: number): void {
    if (this.role === null) return;
    if (dir === this.reqDir) {
      // Perhaps none were hidden (the end of a long upload went by in a gap): a client that
      // waits for each answer realigns at its next request and loses nothing. Only requests
      // seen before that go unpaired (onHead), and are counted then.
      this.unaligned = true;
      return;
    }
    // Unseen responses matter only if requests besides the one being answered wait. Between
    // messages, or in an interim one (a 103 whose head the window cut), none is being answered.
    const cur = this.streams[dir].current?.head;
    const open = cur != null && !interim(cur.status);
    const answering = open && this.respTarget !== null && this.pending.first === this.respTarget ? 1 : 0;
    if (this.pending.length - answering <= 0) return;
    this.desync();
    this.unaligned = true;
    this.respTarget = null;
    this.givenUp = 0;
    for (let i = 0; i < this.pending.length; i++) {
      const p = this.pending.at(i);
      if (!p.ghost) this.sink.exchange({ conn: this, role: this.role, request: p.msg, requestEndNs: p.endNs, response: null, responseEndNs: 0 });
    }
    this.pending.clear();
  }

  /** Requests older than cutoffNs become unmatched; their slot stays as a ghost to keep the order. */
  expire(cutoffNs: number): void {
    this.h2?.expire(cutoffNs);
    for (let i = 0; i < this.pending.length; i++) {
      const p = this.pending.at(i);
      if (p.ghost || p.msg.startNs >= cutoffNs) continue;
      p.ghost = true;
      // A response already streaming (SSE, a long download) is reported with what was seen so far.
      const resp = this.role === null ? null : this.streams[1 - this.reqDir].current;
      const streaming = this.respTarget === p && resp?.head ? resp : null;
      if (streaming) streaming.framingLost = true; // marks the sample truncated: the response goes on
      this.sink.exchange({ conn: this, role: this.role ?? 'server', request: p.msg, requestEndNs: p.endNs, response: streaming, responseEndNs: streaming ? streaming.lastNs : 0 });
    }
  }

  /** Response of unknown length idle since before cutoffNs: it is over. */
  settleIdle(cutoffNs: number): void {
    if (this.role === null) return;
    const resp = this.streams[1 - this.reqDir];
    const cur = resp.current;
    if (cur && resp.openMode === 'unknown' && cur.lastNs < cutoffNs) resp.finishOpen();
  }

  /**
   * Connection closed: read-until-close bodies end here. A response cut short (a client that
   * gave up on a download, a server that died mid-body) is reported with what was sent of it,
   * marked truncated; what never got a response is unmatched.
   */
  close(ns: number): void {
    this.h2?.close();
    for (const s of this.streams) s.finishOpen(undefined);
    const cut = this.role === null ? null : this.streams[1 - this.reqDir].current;
    for (let i = 0; i < this.pending.length; i++) {
      const p = this.pending.at(i);
      if (p.ghost) continue;
      const partial = this.respTarget === p && cut?.head ? cut : null;
      if (partial) partial.framingLost = true;
      this.sink.exchange({ conn: this, role: this.role ?? 'server', request: p.msg, requestEndNs: p.endNs, response: partial, responseEndNs: partial ? partial.lastNs : ns });
    }
    this.pending.clear();
    if (this.unpaired) this.sink.exchange({ conn: this, role: this.role!, request: this.unpaired, requestEndNs: null, response: null, responseEndNs: ns });
    this.unpaired = null;
  }
}

/** 1xx but 101: another answer, the final one, follows. */
function interim(status: number): boolean {
  return status >= 100 && status < 200 && status !== 101;
}

function requestFraming(head: { chunked: boolean; contentLength: number | null }): { mode: BodyMode; length?: number } {
  if (head.chunked) return { mode: 'chunked' };
  if (head.contentLength !== null) return { mode: 'length', length: head.contentLength };
  return { mode: 'none' };
}
