// gRPC client to the server. Batches go on one long-lived ExportStream, each acknowledged by
// id (a unary call per batch cost ~1.3 ms of CPU here, a message on the stream ~0.4 ms); a
// server without it gets unary Export calls. A batch keeps its id across retries, so a retry
// after a lost acknowledgement is stored once. Retries back off up to 5 s; a malformed batch
// is dropped.
import * as grpc from '@grpc/grpc-js';
import { createLogger } from '../../shared/log.ts';
import { ExportAck, ExportResponse, IngestServiceService, type DiagnosticsReport, type HttpExchange } from '../../shared/proto/gen/heimdall/v1/ingest.ts';
import { encodeEntries, type ExchangeEntries } from './export-encoder.ts';

const log = createLogger('transport');
const EXPORT_PATH = IngestServiceService.export.path;
const EXPORT_STREAM_PATH = IngestServiceService.exportStream.path;
const CALL_TIMEOUT_MS = 15_000;

/** The open ExportStream and the batches on it still waiting for their ack. */
interface OpenStream {
  call: grpc.ClientDuplexStream<Buffer, ExportAck>;
  waiting: Map<string, (r: ExportAck | grpc.ServiceError) => void>;
}

const failure = (code: grpc.status, details: string): grpc.ServiceError => Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
const RETRYABLE = new Set([grpc.status.UNAVAILABLE, grpc.status.RESOURCE_EXHAUSTED, grpc.status.DEADLINE_EXCEEDED, grpc.status.ABORTED, grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.CANCELLED]);

type UnaryFn<Req, Res> = (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => void;
interface IngestClient extends grpc.Client {
  reportDiagnostics: UnaryFn<DiagnosticsReport, object>;
}
const ClientCtor = grpc.makeGenericClientConstructor(IngestServiceService, 'IngestService') as unknown as new (addr: string, creds: grpc.ChannelCredentials, opts: grpc.ClientOptions) => IngestClient;

export interface SenderStats {
  sent: number;
  batches: number;
  sendFailures: number;
  rejected: number;
}

export class GrpcSender {
  readonly stats: SenderStats = { sent: 0, batches: 0, sendFailures: 0, rejected: 0 };
  private readonly client: IngestClient;
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
    this.client = new ClientCtor(serverAddr, grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': 64 * 1024 * 1024,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2000,
    });
    this.agentId = agentId;
    this.node = node;
    this.maxInFlight = maxInFlight;
  }

  private call<Req, Res>(fn: UnaryFn<Req, Res>, req: Req, timeoutMs: number): Promise<Res> {
    return new Promise((resolve, reject) => {
      fn.call(this.client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res as Res)));
    });
  }

  /** Export of pre-encoded bytes: a batch is encoded once, however often it is retried. */
  private exportRaw(body: Buffer, timeoutMs: number): Promise<ExportResponse> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(EXPORT_PATH, (b: Buffer) => b, (b: Buffer) => ExportResponse.decode(b), body, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) =>
        err ? reject(err) : resolve(res as ExportResponse),
      );
    });
  }

  private openStream(): OpenStream {
    if (this.stream) return this.stream;
    const call = this.client.makeBidiStreamRequest(EXPORT_STREAM_PATH, (b: Buffer) => b, (b: Buffer) => ExportAck.decode(b), new grpc.Metadata(), {});
    const s: OpenStream = { call, waiting: new Map() };
    // Whatever ends the stream, batches without an ack are sent again (ids make that safe).
    const fail = (err: grpc.ServiceError) => {
      if (this.stream === s) this.stream = null;
      for (const cb of [...s.waiting.values()]) cb(err);
    };
    call.on('data', (a: ExportAck) => s.waiting.get(a.batchId)?.(a));
    call.on('error', (err: grpc.ServiceError) => fail(err));
    call.on('end', () => fail(failure(grpc.status.UNAVAILABLE, 'the server ended the export stream')));
    this.stream = s;
    return s;
  }

  /** One batch on the stream; resolves with its ack, rejects like a failed unary call. */
  private exportStreamed(batchId: string, body: Buffer): Promise<ExportAck> {
    const s = this.openStream();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => settle(failure(grpc.status.DEADLINE_EXCEEDED, `no acknowledgement within ${CALL_TIMEOUT_MS / 1000} s`)), CALL_TIMEOUT_MS);
      t.unref();
      const settle = (r: ExportAck | grpc.ServiceError) => {
        clearTimeout(t);
        s.waiting.delete(batchId);
        if (r instanceof Error) reject(r);
        else if (r.code !== grpc.status.OK) reject(failure(r.code, r.message));
        else resolve(r);
      };
      s.waiting.set(batchId, settle);
      s.call.write(body);
    });
  }

  /** Retries until stored, rejected as malformed, or shutdown gives up. Records may come encoded (the agent) or as objects (tests, tools). */
  async sendBatch(batch: ExchangeEntries | HttpExchange[]): Promise<void> {
    const entries = Array.isArray(batch) ? encodeEntries(batch) : batch;
    const batchId = `${this.agentId}-${++this.seq}`;
    const body = entries.request(batchId, this.agentId, this.node, this.maxInFlight);
    const records = entries.count;
    await this.deliver(batchId, body, records);
    // Stored or rejected, the server has read the bytes; at shutdown (a throw) the batcher keeps them.
    entries.release();
  }

  private async deliver(batchId: string, body: Buffer, records: number): Promise<void> {
    let backoff = 200;
    for (;;) {
      try {
        if (this.unaryOnly) await this.exportRaw(body, CALL_TIMEOUT_MS);
        else await this.exportStreamed(batchId, body);
        this.stats.sent += records;
        this.stats.batches++;
        return;
      } catch (e) {
        const err = e as grpc.ServiceError;
        if (err.code === grpc.status.UNIMPLEMENTED && !this.unaryOnly) {
          this.unaryOnly = true;
          log.info('the server has no ExportStream; sending batches as unary Export calls');
          continue;
        }
        this.stats.sendFailures++;
        if (!RETRYABLE.has(err.code)) {
          this.stats.rejected += records;
          log.error('server rejected a batch; dropping it', { batch: batchId, code: grpc.status[err.code], err: err.details });
          return;
        }
        if (this.stopped) throw err;
        if (this.stats.sendFailures % 10 === 1) log.warn('sending failed; retrying', { batch: batchId, code: grpc.status[err.code], err: err.details, retry_ms: backoff });
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
    await this.call(this.client.reportDiagnostics, d, 5000);
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
    this.client.close();
  }
}
