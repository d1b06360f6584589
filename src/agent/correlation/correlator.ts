// Routes capture events to per-connection state, turns request/response pairs into
// exchange records, and bounds memory: at most maxConnections live connections (least
// idle evicted first), idle ones dropped after the TTL.
import { Buffer } from 'node:buffer';
import { eventAddrs, eventComm, recordPieces, type DataEvent } from '../capture/decode.ts';
import { F_AFTER_LOSS, F_PIECES, F_TLS } from '../capture/event-layout.ts';
import { splitTarget, startsHttpMessage } from '../httpparse/head.ts';
import type { Message } from '../httpparse/message-stream.ts';
import { bodyMayNeedRedaction, redactBodyText, redactHeadText, redactQuery } from '../httpparse/redact.ts';
import { ExchangeIds, WallClock, type ExchangeRecord } from '../exchange-record.ts';
import { Connection, type ConnectionSink, type Pairing } from './connection.ts';
import { ConnectionTable, type SocketOf } from './connection-table.ts';

export interface CorrelatorOptions {
  ttlMs: number;
  sampleBytes: number;
  maxConnections: number;
  /** CLOCK_REALTIME − CLOCK_MONOTONIC at start (setWallOffset follows changes): kernel timestamps are monotonic. */
  wallOffsetNs: bigint;
}

export interface CorrelatorStats {
  matched: number;
  unmatched: number;
  orphanResponses: number;
  noiseBytes: number;
  connections: number;
  evicted: number;
  /** Connections restarted because the kernel lost some of their records. */
  resyncs: number;
  /** Exchanges of Heimdall's own UI (its API polling), not recorded. */
  ownUi: number;
  /** Exchanges left out because the queue downstream was full (counted before any record was built). */
  shed: number;
}

/** Shared and frozen: one object for every exchange without labels (the encoder compares by identity). */
const NO_LABELS: Record<string, string> = Object.freeze({});

const ROLE_SERVER = 1;
const ROLE_CLIENT = 2;

export class Correlator {
  readonly stats: CorrelatorStats = { matched: 0, unmatched: 0, orphanResponses: 0, noiseBytes: 0, connections: 0, evicted: 0, resyncs: 0, ownUi: 0, shed: 0 };
  private readonly conns = new ConnectionTable<Connection>();
  private readonly opts: CorrelatorOptions;
  private readonly out: (x: ExchangeRecord) => void;
  private readonly clock: WallClock;
  private readonly sink: ConnectionSink;
  private readonly ids = new ExchangeIds();
  private readonly accepting: () => boolean;
  /** Processes that exited since the last sweep, with when. */
  private readonly exited = new Map<number, number>();

  /** accepting: whether `out` has room; when it has none a record would be built only to be dropped. */
  constructor(opts: CorrelatorOptions, out: (x: ExchangeRecord) => void, accepting: () => boolean = () => true) {
    this.opts = opts;
    this.out = out;
    this.accepting = accepting;
    this.clock = new WallClock(opts.wallOffsetNs);
    this.sink = {
      exchange: (p) => this.emit(p),
      orphanResponse: () => this.stats.orphanResponses++,
      noise: (n) => (this.stats.noiseBytes += n),
      desync: () => this.stats.resyncs++,
    };
  }

  setWallOffset(offsetNs: bigint): void {
    this.clock.set(offsetNs);
  }

  get size(): number {
    return this.conns.size;
  }

  onData(ev: DataEvent): void {
    let conn = this.conns.get(ev);
    // HTTP/2 keeps its header tables and picks the stream of frames up again (H2Session).
    if (conn && ev.flags & F_AFTER_LOSS && conn.keepsState) conn.afterLoss(ev.direction);
    else if (conn && ev.flags & F_AFTER_LOSS) {
      // Bytes of this connection are missing: pairing across the hole could give a request
      // the next one's response. What is open ends as at a close (waiting requests are
      // reported unmatched) and the connection starts over at the next message head.
      this.conns.delete(ev);
      conn.close(conn.lastNs);
      conn = undefined;
      this.stats.resyncs++;
    }
    // Through a proxy's CONNECT tunnel: HTTPS, whose plaintext the client's TLS library hands
    // over on the same socket, or plain HTTP (curl --proxytunnel), which the proxy relays as it
    // comes. Either is HTTP of its own, with its own requests: followed as a new connection (its
    // records keep the proxy's address).
    if (conn?.tunnel && (ev.flags & F_TLS || startsHttpMessage(ev.data))) {
      this.conns.delete(ev);
      conn.close(conn.lastNs);
      conn = undefined;
    }
    if (!conn) {
      if (this.conns.size >= this.opts.maxConnections) this.evictIdlest();
      conn = new Connection({ tgid: ev.tgid, fd: ev.fd, comm: eventComm(ev), ...eventAddrs(ev) }, this.opts.sampleBytes, this.sink);
      this.conns.set(ev, conn);
      this.stats.connections++;
    }
    if (ev.flags & F_TLS) conn.meta.tls = true;
    if (ev.flags & F_PIECES) this.pushPieces(conn, ev);
    else conn.push(ev.direction, ev.data, ev.len, ev.startNs, ev.endNs);
  }

  /** What the kernel found past the capture window (HTTP/2 frames, HTTP/1 message heads): each piece handed over where it starts in the syscall. */
  private pushPieces(conn: Connection, ev: DataEvent): void {
    const pieces = recordPieces(ev.data, ev.len);
    if (pieces === null) {
      // Not as the kernel writes it: nothing but a gap can be trusted (the reader resyncs later).
      conn.push(ev.direction, ev.data.subarray(0, 0), ev.len, ev.startNs, ev.endNs);
      return;
    }
    for (const p of pieces) if (p.len > 0) conn.push(ev.direction, p.data, p.len, ev.startNs, ev.endNs);
  }

  onClose(socket: SocketOf, ns: number): void {
    const conn = this.conns.get(socket);
    if (!conn) return;
    this.conns.delete(socket);
    conn.close(ns);
  }

  /**
   * The process exited: its sockets closed with no close() seen. Its connections end at the next
   * sweep (one pass over the table for every exit in between, not one per exit).
   */
  onExit(tgid: number, ns: number): void {
    this.exited.set(tgid, ns);
  }

  /** Expires requests older than the TTL, settles idle responses, forgets idle connections. */
  sweep(nowMonoNs: number): void {
    const ttlNs = this.opts.ttlMs * 1e6;
    const cutoff = nowMonoNs - ttlNs;
    const idleCutoff = nowMonoNs - Math.min(1e9, ttlNs);
    const exited = this.exited.size > 0 ? this.exited : null;
    for (const [key, conn] of this.conns.entries()) {
      const exitNs = exited?.get(key.tgid);
      // Activity after the exit is a new process that was given the same pid.
      if (exitNs !== undefined && conn.lastNs <= exitNs) {
        this.conns.delete(key);
        conn.close(exitNs);
        continue;
      }
      conn.settleIdle(idleCutoff);
      conn.expire(cutoff);
      if (conn.lastNs < cutoff - ttlNs && conn.pending.allGhosts() && !conn.keepsState) {
        this.conns.delete(key);
        conn.close(nowMonoNs);
      }
    }
    exited?.clear();
  }

  /** Flushes everything (shutdown): open responses end, waiting requests become unmatched. */
  closeAll(nowMonoNs: number): void {
    for (const [, conn] of this.conns.entries()) conn.close(nowMonoNs);
    this.conns.clear();
  }

  /** At capacity only: a scan here is cheaper than keeping LRU order on every event. */
  private evictIdlest(): void {
    let key: SocketOf | null = null;
    let idlest: Connection | null = null;
    for (const [k, c] of this.conns.entries()) {
      if (!idlest || c.lastNs < idlest.lastNs) {
        key = k;
        idlest = c;
      }
    }
    if (key === null || !idlest) return;
    this.conns.delete(key);
    idlest.close(idlest.lastNs);
    this.stats.evicted++;
  }

  private emit(p: Pairing): void {
    const req = p.request;
    const head = req.head!;
    if (head.heimdallUi) {
      // A UI left open polls every 2 s: recording that would fill the view it is watching.
      this.stats.ownUi++;
      return;
    }
    const res = p.response;
    const m = p.conn.meta;
    const server = p.role === 'server';
    const t = targetParts(head.target);
    const unmatched = res === null || !res.head;
    if (unmatched) this.stats.unmatched++;
    else this.stats.matched++;
    if (!this.accepting()) {
      // Overload (the server is slower than the traffic): shed before sampling, redaction,
      // enrichment and encoding, which were half the agent's work at saturation.
      this.stats.shed++;
      return;
    }
    const reqSample = sample(req, this.opts.sampleBytes, t.secret);
    const resSample = res ? sample(res, this.opts.sampleBytes) : { bytes: EMPTY, truncated: false };
    const endNs = res ? p.responseEndNs : 0;
    // A literal with every field: fromPartial would first build a default record (two
    // empty Buffers included) and copy over it, per exchange.
    const x: ExchangeRecord = {
      id: '',
      idPrefix: this.ids.prefix,
      idSeq: this.ids.next(),
      timestampHi: 0,
      timestampLo: 0,
      durationNs: endNs > req.startNs ? Math.round(endNs - req.startNs) : 0,
      pid: m.tgid,
      process: m.comm,
      role: server ? ROLE_SERVER : ROLE_CLIENT,
      srcIp: server ? m.raddr : m.laddr,
      srcPort: server ? m.rport : m.lport,
      dstIp: server ? m.laddr : m.raddr,
      dstPort: server ? m.lport : m.rport,
      method: head.method,
      host: (head.host || t.host || (server ? `${m.laddr}:${m.lport}` : `${m.raddr}:${m.rport}`)).slice(0, 1024),
      path: t.path,
      query: t.query,
      httpVersion: head.version,
      status: res?.head?.status ?? 0,
      requestBytes: req.bytes,
      responseBytes: res?.bytes ?? 0,
      userAgent: head.userAgent,
      traceparent: head.traceparent,
      requestSample: reqSample.bytes,
      responseSample: resSample.bytes,
      requestTruncated: reqSample.truncated,
      responseTruncated: resSample.truncated,
      unmatched,
      tls: m.tls === true,
      grpcStatus: res?.head?.grpcStatus || p.grpcStatus || '',
      node: '',
      containerId: '',
      namespace: '',
      pod: '',
      container: '',
      labels: NO_LABELS,
    };
    this.clock.stamp(x, req.startNs);
    this.out(x);
  }
}

/** secret: the target held a credential (a sensitive query value, user:password@), so the request's sample needs the redaction pass. */
interface TargetParts { host: string; path: string; query: string; secret: boolean }
/**
 * A request target split into what a record stores (query redacted), remembered per target:
 * targets repeat, and the head parser hands out one string per distinct target, so a hit costs
 * a lookup instead of two substrings and a redaction pass per record.
 */
const targets = new Map<string, TargetParts>();
function targetParts(target: string): TargetParts {
  let t = targets.get(target);
  if (t === undefined) {
    const split = splitTarget(target);
    const query = split.query ? redactQuery(split.query) : '';
    t = { host: split.host, path: (split.path || '/').slice(0, 8192), query: query.slice(0, 8192), secret: query !== split.query || split.userinfo };
    if (targets.size >= 4096) targets.clear(); // unique targets (ids in queries) must not grow it
    targets.set(target, t);
  }
  return t;
}

/**
 * The first `limit` bytes of a message with secrets replaced. Most messages carry none:
 * they skip the text pass (the head parser flags credential headers).
 */
export function sample(msg: Message, limit: number, queryHasSecret = false): { bytes: Buffer; truncated: boolean } {
  const head = msg.head;
  const kept = msg.kept;
  const raw = kept === null ? EMPTY : msg.rawLen === kept.length ? kept : kept.subarray(0, msg.rawLen); // no view when full
  const headLen = Math.min(msg.headLength, raw.length);
  const ct = head?.contentType ?? '';
  // Only form and JSON bodies are ever rewritten: other text (HTML, plain) needs no pass.
  const bodyNeedsPass = raw.length > headLen && ct !== '' && bodyMayNeedRedaction(ct);
  let bytes = raw;
  if (head?.sensitive || queryHasSecret || bodyNeedsPass) {
    let text = redactHeadText(raw.toString('latin1', 0, headLen));
    if (raw.length > headLen) text += bodyNeedsPass ? redactBodyText(raw.toString('latin1', headLen), ct) : raw.toString('latin1', headLen);
    const all = Buffer.from(text, 'latin1');
    bytes = all.length > limit ? all.subarray(0, limit) : all;
  }
  return { bytes, truncated: msg.bytes > raw.length || !(head?.complete ?? false) || msg.framingLost };
}

const EMPTY = Buffer.alloc(0);
