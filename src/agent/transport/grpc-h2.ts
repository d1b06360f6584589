// The agent's gRPC client, on node:http2 directly: one HTTP/2 connection to the server, a
// long-lived bidirectional stream for batches and unary calls beside it. Through grpc-js,
// each batch on the stream cost ~2–3 µs of agent CPU per request at 10k req/s (its filter
// stack, promises and a copy of every message); here a message is a 5-byte prefix written
// into room the batch kept in front of its bytes. Wire format: gRPC over HTTP/2
// (length-prefixed messages, status in trailers, or in the headers of a trailers-only reply).
import { Buffer } from 'node:buffer';
import * as http2 from 'node:http2';
import { VERSION } from '../../shared/version.ts';
import { httpStatusToGrpc } from '../correlation/grpc-status.ts';

/** gRPC status codes the agent acts on (grpc/doc/statuscodes.md). */
export const Code = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, RESOURCE_EXHAUSTED: 8,
  ABORTED: 10, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14,
} as const;
const CODE_NAMES = new Map<number, string>(Object.entries(Code).map(([k, v]) => [v, k]));
export const codeName = (code: number): string => CODE_NAMES.get(code) ?? String(code);

export class GrpcCallError extends Error {
  readonly code: number;
  readonly details: string;
  constructor(code: number, details: string) {
    super(`${codeName(code)}: ${details}`);
    this.code = code;
    this.details = details;
  }
}

function statusOf(headers: http2.IncomingHttpHeaders): GrpcCallError | null | undefined {
  const s = headers['grpc-status'];
  if (s === undefined) return undefined;
  const code = Number(s);
  if (code === Code.OK) return null;
  const raw = headers['grpc-message'];
  let details = typeof raw === 'string' ? raw : '';
  try {
    details = decodeURIComponent(details);
  } catch {
    // not percent-encoded as the spec asks: shown as sent
  }
  return new GrpcCallError(Number.isInteger(code) ? code : Code.UNKNOWN, details || codeName(code));
}

/** Room a caller keeps in front of a message for its gRPC prefix (see GrpcStream.write). */
export const MESSAGE_PREFIX = 5;

export interface StreamHandlers {
  onMessage(b: Buffer): void;
  /** Once, however the call ends: null when the server closed it with OK. */
  onEnd(err: GrpcCallError | null): void;
}

const MAX_REPLY_BYTES = 4 << 20;

/** One call's reading side: gRPC messages out of DATA frames, the status out of headers or trailers. */
class CallReader {
  private pending: Buffer | null = null;
  private ended = false;
  private status: GrpcCallError | null | undefined = undefined;
  private readonly req: http2.ClientHttp2Stream;
  private readonly h: StreamHandlers;
  constructor(req: http2.ClientHttp2Stream, h: StreamHandlers, authority: string) {
    this.req = req;
    this.h = h;
    req.on('response', (headers) => {
      const http = Number(headers[':status']);
      if (http !== 200) return this.end(new GrpcCallError(Number(httpStatusToGrpc(http)), `the server answered HTTP ${http}, not gRPC`));
      this.status = statusOf(headers); // a trailers-only reply carries its status here
    });
    req.on('trailers', (trailers) => (this.status = statusOf(trailers)));
    req.on('data', (chunk: Buffer) => this.data(chunk));
    // The server's side ended (trailers, or a trailers-only reply): the call is over, though
    // ours may still be open (a stream the agent writes on), and 'close' waits for both.
    req.on('end', () => {
      if (this.status === undefined) return;
      this.end(this.status);
      if (!req.closed) req.close(http2.constants.NGHTTP2_NO_ERROR);
    });
    // A call on a connection that failed carries the connection's error as its cause (ECONNREFUSED…).
    req.on('error', (err: Error) => this.end(new GrpcCallError(Code.UNAVAILABLE, `connection to the server at ${authority} failed: ${err.cause instanceof Error ? err.cause.message : err.message}`)));
    req.on('close', () => {
      if (this.status === undefined) this.end(new GrpcCallError(Code.UNAVAILABLE, req.rstCode ? `the server reset the call (HTTP/2 code ${req.rstCode})` : 'the server ended the call without a status'));
      else this.end(this.status);
    });
  }

  private data(chunk: Buffer): void {
    let b = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    while (b.length >= MESSAGE_PREFIX) {
      const n = b.readUInt32BE(1);
      if (b[0] !== 0) return this.fail(new GrpcCallError(Code.INTERNAL, 'the server sent a compressed message; the agent asks for none'));
      // The server's replies are acks of a few bytes: a length this large is no gRPC reply.
      if (n > MAX_REPLY_BYTES) return this.fail(new GrpcCallError(Code.INTERNAL, `the server sent a message of ${n} bytes; replies are at most ${MAX_REPLY_BYTES}`));
      if (b.length < MESSAGE_PREFIX + n) break;
      if (!this.ended) this.h.onMessage(b.subarray(MESSAGE_PREFIX, MESSAGE_PREFIX + n));
      b = b.subarray(MESSAGE_PREFIX + n);
    }
    this.pending = b.length > 0 ? Buffer.from(b) : null;
  }

  fail(err: GrpcCallError): void {
    this.end(err);
    this.req.close(http2.constants.NGHTTP2_CANCEL);
  }

  private end(err: GrpcCallError | null): void {
    if (this.ended) return;
    this.ended = true;
    this.h.onEnd(err);
  }
}

export interface GrpcStream {
  /** msg[MESSAGE_PREFIX, end) is the message; its first MESSAGE_PREFIX bytes are overwritten with the prefix. */
  write(msg: Buffer): void;
  end(): void;
}

/** `host:port`, `dns:///host:port` or `[v6]:port` → the http:// authority node:http2 connects to. */
export function authorityOf(target: string): string {
  return `http://${target.replace(/^dns:\/\/\//, '')}`;
}

export class GrpcChannel {
  private readonly authority: string;
  /** host:port as configured (SERVER_ADDR), for messages. */
  private readonly target: string;
  private session: http2.ClientHttp2Session | null = null;
  private readonly keepaliveMs: number;
  private readonly connectTimeoutMs: number;
  /** Calls in progress per connection: they keep the process alive; an idle connection does not. */
  private readonly calls = new WeakMap<http2.ClientHttp2Session, number>();

  constructor(target: string, opts: { keepaliveMs?: number; connectTimeoutMs?: number } = {}) {
    this.authority = authorityOf(target);
    this.target = target;
    this.keepaliveMs = opts.keepaliveMs ?? 30_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
  }

  /** The open connection, or a new one: a failed one is dropped and the next call connects again. */
  private connect(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const s = http2.connect(this.authority, { settings: { enablePush: false } });
    // Errors reach the calls on it; here the connection is only forgotten.
    const forget = () => {
      if (this.session === s) this.session = null;
    };
    s.on('error', forget);
    s.on('close', forget);
    s.on('goaway', forget);
    // A blackholed address would keep a connection connecting for minutes (TCP's retries):
    // given up on sooner, the calls on it fail and their retries connect again.
    const connecting = setTimeout(() => s.destroy(new Error(`no HTTP/2 connection within ${this.connectTimeoutMs / 1000} s`)), this.connectTimeoutMs);
    connecting.unref();
    s.once('remoteSettings', () => clearTimeout(connecting)); // the peer speaks HTTP/2 (TCP alone is not enough)
    s.once('close', () => clearTimeout(connecting));
    // A peer gone silently (host down, cable cut) would hold calls until TCP gives up: a ping unanswered in time ends the connection.
    const ping = setInterval(() => {
      if (s.closed || s.destroyed) return clearInterval(ping);
      const t = setTimeout(() => s.destroy(new Error(`no answer to a ping within ${this.keepaliveMs / 1000} s`)), this.keepaliveMs);
      t.unref();
      try {
        s.ping((err) => {
          clearTimeout(t);
          if (err && !s.destroyed) s.destroy(err);
        });
      } catch (err) {
        clearTimeout(t);
        s.destroy(err as Error); // e.g. too many pings unanswered: the connection is no good
      }
    }, this.keepaliveMs);
    ping.unref();
    s.on('close', () => clearInterval(ping));
    s.unref(); // open calls keep the process alive, not an idle connection
    this.session = s;
    return s;
  }

  private request(path: string, timeoutMs?: number): http2.ClientHttp2Stream {
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc+proto',
      te: 'trailers',
      'user-agent': `heimdall-agent/${VERSION}`,
    };
    if (timeoutMs !== undefined) headers['grpc-timeout'] = `${Math.max(1, Math.ceil(timeoutMs))}m`;
    const s = this.connect();
    const n = this.calls.get(s) ?? 0;
    this.calls.set(s, n + 1);
    if (n === 0) s.ref();
    const req = s.request(headers);
    req.on('close', () => {
      const left = (this.calls.get(s) ?? 1) - 1;
      this.calls.set(s, left);
      if (left === 0 && !s.destroyed) s.unref();
    });
    return req;
  }

  /** A bidirectional streaming call whose messages are written as they come. */
  openStream(path: string, h: StreamHandlers): GrpcStream {
    const req = this.request(path);
    const reader = new CallReader(req, h, this.target);
    return {
      write(msg: Buffer): void {
        msg[0] = 0;
        msg.writeUInt32BE(msg.length - MESSAGE_PREFIX, 1);
        if (!req.writable) return; // ended: its onEnd has told the caller (or will)
        req.write(msg);
      },
      end(): void {
        if (req.writable) req.end();
        else reader.fail(new GrpcCallError(Code.CANCELLED, 'closed by the agent'));
      },
    };
  }

  /** A unary call: one message each way. */
  unary(path: string, body: Uint8Array, timeoutMs: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      let reply: Buffer | null = null;
      const req = this.request(path, timeoutMs);
      const reader = new CallReader(req, {
        onMessage: (b) => (reply = Buffer.from(b)),
        onEnd: (err) => {
          clearTimeout(t);
          if (err) reject(err);
          else if (reply) resolve(reply);
          else reject(new GrpcCallError(Code.INTERNAL, 'the server ended a unary call without its reply'));
        },
      }, this.target);
      const t = setTimeout(() => reader.fail(new GrpcCallError(Code.DEADLINE_EXCEEDED, `no reply within ${timeoutMs / 1000} s`)), timeoutMs);
      t.unref();
      const prefix = Buffer.allocUnsafe(MESSAGE_PREFIX);
      prefix[0] = 0;
      prefix.writeUInt32BE(body.length, 1);
      req.write(prefix);
      req.end(body);
    });
  }

  close(): void {
    this.session?.close();
    this.session = null;
  }
}
