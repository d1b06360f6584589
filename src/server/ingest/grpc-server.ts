// gRPC ingest endpoint. Maps our error codes to gRPC status codes agents act on:
// INVALID_ARGUMENT (drop the batch), UNAVAILABLE and RESOURCE_EXHAUSTED (retry later).
import * as grpc from '@grpc/grpc-js';
import { HeimdallError, errorMessage } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import { IngestServiceService, type ExportAck, type ExportRequest, type IngestServiceServer } from '../../shared/proto/gen/heimdall/v1/ingest.ts';
import type { Ingester, Sender } from './ingester.ts';
import { widenConnectionWindows, widenStreamWindows } from './receive-window.ts';
import { batchIdOf } from './wire-bytes.ts';

const log = createLogger('grpc');

export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** The generated service, except that Export and ExportStream hand request bytes over undecoded. */
const raw = (b: Buffer) => b as unknown as ExportRequest;
const RAW_EXPORT = {
  ...IngestServiceService,
  export: { ...IngestServiceService.export, requestDeserialize: raw },
  exportStream: { ...IngestServiceService.exportStream, requestDeserialize: raw },
};

function statusCode(err: unknown): grpc.status {
  const code =
    err instanceof HeimdallError
      ? err.code === 'BATCH_INVALID'
        ? grpc.status.INVALID_ARGUMENT
        : err.code === 'OVERLOADED'
          ? grpc.status.RESOURCE_EXHAUSTED
          : grpc.status.UNAVAILABLE
      : grpc.status.INTERNAL;
  if (code === grpc.status.INTERNAL) log.error('unexpected ingest error', { err: errorMessage(err) });
  return code;
}

function toStatus(err: unknown): grpc.ServiceError {
  return Object.assign(new Error(errorMessage(err)), { code: statusCode(err), details: errorMessage(err), metadata: new grpc.Metadata() });
}

export class GrpcIngestServer {
  private readonly server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_concurrent_streams': 1000,
  });
  private readonly ingester: Ingester;
  private port = 0;
  private stopped: Promise<void> | null = null;
  /** Open ExportStream calls: each ends once its batches are acknowledged, at shutdown. */
  private readonly streams = new Set<() => void>();

  constructor(ingester: Ingester) {
    this.ingester = ingester;
    const impl: IngestServiceServer = {
      export: (call, cb) => {
        // Export is served from the raw bytes (see RAW_EXPORT): no object per exchange.
        this.ingester.submitExport(call.request as unknown as Buffer, { queued: 0 }).then(
          (res) => cb(null, { accepted: res.accepted, duplicate: res.duplicate }),
          (err) => cb(toStatus(err)),
        );
      },
      exportStream: (call) => this.exportStream(call),
      reportDiagnostics: (call, cb) => {
        this.ingester.submitDiagnostics(call.request).then(() => cb(null, {}), (err) => cb(toStatus(err)));
      },
    };
    this.server.addService(RAW_EXPORT, impl);
    widenStreamWindows(this.server);
  }

  /** Every batch on the stream gets one ack with the status Export would have returned. */
  private exportStream(call: grpc.ServerDuplexStream<ExportRequest, ExportAck>): void {
    let pending = 0;
    const sender: Sender = { queued: 0 };
    let ending = false; // the agent half-closed, or the server is shutting down
    let gone = false; // the agent went away: acks have nowhere to go
    const end = () => {
      ending = true;
      if (pending === 0 && !gone) {
        gone = true;
        this.streams.delete(end);
        call.end();
      }
    };
    this.streams.add(end);
    const ack = (a: ExportAck) => {
      if (!gone) call.write(a);
    };
    call.on('data', (msg: Buffer) => {
      pending++;
      const batchId = batchIdOf(msg);
      this.ingester
        .submitExport(msg, sender)
        .then(
          (res) => ack({ batchId, code: grpc.status.OK, message: '', accepted: res.accepted, duplicate: res.duplicate }),
          (err: unknown) => ack({ batchId, code: statusCode(err), message: errorMessage(err), accepted: 0, duplicate: false }),
        )
        .finally(() => {
          pending--;
          if (ending) end();
        });
    });
    call.on('end', end);
    const lost = () => {
      gone = true;
      this.streams.delete(end);
    };
    call.on('error', lost);
    call.on('cancelled', lost);
  }

  async start(host: string, port: number): Promise<number> {
    this.port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(new HeimdallError('CONFIG_INVALID', `cannot listen for gRPC on ${host}:${port}: ${err.message}; is PORT in use?`)) : resolve(p),
      );
    });
    widenConnectionWindows(this.server);
    return this.port;
  }

  get boundPort(): number {
    return this.port;
  }

  /** Stops accepting calls and lets running ones finish; forces after timeoutMs. Idempotent. */
  shutdown(timeoutMs: number): Promise<void> {
    this.stopped ??= new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, timeoutMs);
      t.unref();
      for (const end of [...this.streams]) end();
      this.server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
    return this.stopped;
  }
}
