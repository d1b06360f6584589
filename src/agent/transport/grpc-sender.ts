// gRPC client to the server. A batch keeps its id across retries, so a retry after a lost
// acknowledgement is stored once. Retries back off up to 5 s; a malformed batch is dropped.
import * as grpc from '@grpc/grpc-js';
import { createLogger } from '../../shared/log.ts';
import { ExportResponse, IngestServiceService, type DiagnosticsReport, type ExportRequest, type HttpExchange } from '../../shared/proto/gen/heimdall/v1/ingest.ts';
import { encodeExportRequest } from './export-encoder.ts';

const log = createLogger('transport');
const EXPORT_PATH = IngestServiceService.export.path;
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

  constructor(serverAddr: string, agentId: string, node: string) {
    this.client = new ClientCtor(serverAddr, grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': 64 * 1024 * 1024,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2000,
    });
    this.agentId = agentId;
    this.node = node;
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

  /** Retries until stored, rejected as malformed, or shutdown gives up. */
  async sendBatch(exchanges: HttpExchange[]): Promise<void> {
    const req: ExportRequest = { batchId: `${this.agentId}-${++this.seq}`, agentId: this.agentId, node: this.node, exchanges };
    const body = encodeExportRequest(req);
    let backoff = 200;
    for (;;) {
      try {
        await this.exportRaw(body, 15_000);
        this.stats.sent += exchanges.length;
        this.stats.batches++;
        return;
      } catch (e) {
        const err = e as grpc.ServiceError;
        this.stats.sendFailures++;
        if (!RETRYABLE.has(err.code)) {
          this.stats.rejected += exchanges.length;
          log.error('server rejected a batch; dropping it', { batch: req.batchId, code: grpc.status[err.code], err: err.details });
          return;
        }
        if (this.stopped) throw err;
        if (this.stats.sendFailures % 10 === 1) log.warn('sending failed; retrying', { batch: req.batchId, code: grpc.status[err.code], err: err.details, retry_ms: backoff });
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

  /** Makes a retry loop give up at its next failure. */
  stopRetrying(): void {
    this.stopped = true;
    this.wake?.();
  }

  close(): void {
    this.client.close();
  }
}
