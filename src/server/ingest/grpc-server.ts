// gRPC ingest endpoint. Maps our error codes to gRPC status codes agents act on:
// INVALID_ARGUMENT (drop the batch), UNAVAILABLE and RESOURCE_EXHAUSTED (retry later).
import * as grpc from '@grpc/grpc-js';
import { HeimdallError, errorMessage } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import { IngestServiceService, type ExportRequest, type IngestServiceServer } from '../../shared/proto/gen/heimdall/v1/ingest.ts';
import type { Ingester } from './ingester.ts';

const log = createLogger('grpc');

export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** The generated service, except that Export hands its request bytes over undecoded. */
const RAW_EXPORT = {
  ...IngestServiceService,
  export: { ...IngestServiceService.export, requestDeserialize: (b: Buffer) => b as unknown as ExportRequest },
};

function toStatus(err: unknown): grpc.ServiceError {
  const code =
    err instanceof HeimdallError
      ? err.code === 'BATCH_INVALID'
        ? grpc.status.INVALID_ARGUMENT
        : err.code === 'OVERLOADED'
          ? grpc.status.RESOURCE_EXHAUSTED
          : grpc.status.UNAVAILABLE
      : grpc.status.INTERNAL;
  if (code === grpc.status.INTERNAL) log.error('unexpected ingest error', { err: errorMessage(err) });
  return Object.assign(new Error(errorMessage(err)), { code, details: errorMessage(err), metadata: new grpc.Metadata() });
}

export class GrpcIngestServer {
  private readonly server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_concurrent_streams': 1000,
  });
  private readonly ingester: Ingester;
  private port = 0;
  private stopped: Promise<void> | null = null;

  constructor(ingester: Ingester) {
    this.ingester = ingester;
    const impl: IngestServiceServer = {
      export: (call, cb) => {
        // Export is served from the raw bytes (see RAW_EXPORT): no object per exchange.
        this.ingester.submitExport(call.request as unknown as Buffer).then(
          (res) => cb(null, { accepted: res.accepted, duplicate: res.duplicate }),
          (err) => cb(toStatus(err)),
        );
      },
      reportDiagnostics: (call, cb) => {
        this.ingester.submitDiagnostics(call.request).then(() => cb(null, {}), (err) => cb(toStatus(err)));
      },
    };
    this.server.addService(RAW_EXPORT, impl);
  }

  async start(host: string, port: number): Promise<number> {
    this.port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(new HeimdallError('CONFIG_INVALID', `cannot listen for gRPC on ${host}:${port}: ${err.message}; is PORT in use?`)) : resolve(p),
      );
    });
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
      this.server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
    return this.stopped;
  }
}
