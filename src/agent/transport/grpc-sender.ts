// gRPC client to the server. Batches go on one long-lived ExportStream, each acknowledged by
// id (a unary call per batch cost ~1.3 ms of CPU here, a message on the stream ~0.4 ms through
// grpc-js, less on node:http2 directly: grpc-h2.ts); a server without it gets unary Export
// calls. A batch keeps its id across retries, so a retry after a lost acknowledgement is stored
// once. Retries back off up to 5 s; a malformed batch is dropped.
import type { Buffer } from 'node:buffer';
import { createLogger } from '../../shared/log.ts';
import { DiagnosticsReport, ExportAck, ExportResponse, IngestServiceService, type HttpExchange } from '../../shared/proto/gen/heimdall/v1/ingest.ts';
import { encodeEntries, type ExchangeEntries } from './export-encoder.ts';
import { Code, GrpcCallError, GrpcChannel, MESSAGE_PREFIX, codeName, type GrpcStream } from './grpc-h2.ts';

const log = createLogger('transport');
const EXPORT_PATH = IngestServiceService.export.path;
const EXPORT_STREAM_PATH = IngestServiceService.exportStream.path;
const DIAGNOSTICS_PATH = IngestServiceService.reportDiagnostics.path;
const CALL_TIMEOUT_MS = 15_000;

/** The open ExportStream and the batches on it still waiting for their ack. */
interface OpenStream {
  call: GrpcStream;
  waiting: Map<string, (r: ExportAck | GrpcCallError) => void>;
}

const RETRYABLE = new Set<number>([Code.UNAVAILABLE, Code.RESOURCE_EXHAUSTED, Code.DEADLINE_EXCEEDED, Code.ABORTED, Code.INTERNAL, Code.UNKNOWN, Code.CANCELLED]);

export interface SenderStats {
  sent: number;
  batches: number;
  sendFailures: number;
  rejected: number;
}

export class GrpcSender {
  readonly stats: SenderStats = { sent: 0, batches: 0, sendFailures: 0, rejected: 0 };
  private readonly channel: GrpcChannel;
  private readonly agentId: string;
  private readonly node: string;
  private seq = 0;
  private stopped = false;
  private wake: (() => void) | null = null;
  private stream: OpenStream | null = null;
  /** The server answered ExportStream with UNIMPLEMENTED (an older server): unary calls only. */
  private unaryOnly = false;

  /** Batches the batcher keeps in flight, told to the server (ExportRequest.max_in_flight). */
  private maxInFlight: number;

  constructor(serverAddr: string, agentId: string, node: string, maxInFlight = 0) {
    this.channel = new GrpcChannel(serverAddr, { keepaliveMs: 30_000 });
    this.agentId = agentId;
    this.node = node;
    this.maxInFlight = maxInFlight;
  }

  /** Export of pre-encoded bytes: a batch is encoded once, however often it is retried. */
  private async exportRaw(body: Buffer, timeoutMs: number): Promise<ExportResponse> {
    return ExportResponse.decode(await this.channel.unary(EXPORT_PATH, body, timeoutMs));
  }

  private openStream(): OpenStream {
    if (this.stream) return this.stream;
    const waiting = new Map<string, (r: ExportAck | GrpcCallError) => void>();
    const call = this.channel.openStream(EXPORT_STREAM_PATH, {
      onMessage: (b) => {
        const a = ExportAck.decode(b);
        waiting.get(a.batchId)?.(a);
      },
      // Whatever ends the stream, batches without an ack are sent again (ids make that safe).
      onEnd: (err) => {
        if (this.stream === s) this.stream = null;
        const why = err ?? new GrpcCallError(Code.UNAVAILABLE, 'the server ended the export stream');
        for (const cb of [...waiting.values()]) cb(why);
      },
    });
    const s: OpenStream = { call, waiting };
    this.stream = s;
    return s;
  }

  /** One batch on the stream (its first MESSAGE_PREFIX bytes are room for the framing); resolves with its ack, rejects like a failed unary call. */
  private exportStreamed(batchId: string, framed: Buffer): Promise<ExportAck> {
    const s = this.openStream();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => settle(new GrpcCallError(Code.DEADLINE_EXCEEDED, `no acknowledgement within ${CALL_TIMEOUT_MS / 1000} s`)), CALL_TIMEOUT_MS);
      t.unref();
      const settle = (r: ExportAck | GrpcCallError) => {
        clearTimeout(t);
        s.waiting.delete(batchId);
        if (r instanceof Error) reject(r);
        else if (r.code !== Code.OK) reject(new GrpcCallError(r.code, r.message));
        else resolve(r);
      };
      s.waiting.set(batchId, settle);
      s.call.write(framed);
    });
  }

  /** Retries until stored, rejected as malformed, or shutdown gives up. Records may come encoded (the agent) or as objects (tests, tools). */
  async sendBatch(batch: ExchangeEntries | HttpExchange[]): Promise<void> {
    const entries = Array.isArray(batch) ? encodeEntries(batch) : batch;
    const batchId = `${this.agentId}-${++this.seq}`;
    const framed = entries.request(batchId, this.agentId, this.node, this.maxInFlight, MESSAGE_PREFIX);
    const records = entries.count;
    await this.deliver(batchId, framed, records);
    // Stored or rejected, the server has read the bytes; at shutdown (a throw) the batcher keeps them.
    entries.release();
  }

  private async deliver(batchId: string, framed: Buffer, records: number): Promise<void> {
    let backoff = 200;
    for (;;) {
      try {
        if (this.unaryOnly) await this.exportRaw(framed.subarray(MESSAGE_PREFIX), CALL_TIMEOUT_MS);
        else await this.exportStreamed(batchId, framed);
        this.stats.sent += records;
        this.stats.batches++;
        return;
      } catch (e) {
        const err = e instanceof GrpcCallError ? e : new GrpcCallError(Code.UNKNOWN, String(e));
        if (err.code === Code.UNIMPLEMENTED && !this.unaryOnly) {
          this.unaryOnly = true;
          log.info('the server has no ExportStream; sending batches as unary Export calls');
          continue;
        }
        this.stats.sendFailures++;
        if (!RETRYABLE.has(err.code)) {
          this.stats.rejected += records;
          log.error('server rejected a batch; dropping it', { batch: batchId, code: codeName(err.code), err: err.details });
          return;
        }
        if (this.stopped) throw err;
        if (this.stats.sendFailures % 10 === 1) log.warn('sending failed; retrying', { batch: batchId, code: codeName(err.code), err: err.details, retry_ms: backoff });
        await new Promise<void>((r) => {
          const t = setTimeout(r, backoff);
          t.unref();
          this.wake = () => { clearTimeout(t); r(); };
        });
        this.wake = null;
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  async reportDiagnostics(d: DiagnosticsReport): Promise<void> {
    await this.channel.unary(DIAGNOSTICS_PATH, DiagnosticsReport.encode(d).finish(), 5000);
  }

  /**
   * The agent is stopping and sends nothing after what is queued: later batches ask to be
   * stored at once (max_in_flight 1) rather than wait for others to join them.
   */
  lastBatches(): void {
    this.maxInFlight = 1;
  }

  /** Makes a retry loop give up at its next failure. */
  stopRetrying(): void {
    this.stopped = true;
    this.wake?.();
  }

  close(): void {
    this.stream?.call.end();
    this.stream = null;
    this.channel.close();
  }
}
