// A gRPC service any test can stand up: one unary method on raw bytes. A call carries its
// number; every fifth is answered NOT_FOUND, the others with `answerBytes(n)` bytes.
import { Buffer } from 'node:buffer';
import * as grpc from '@grpc/grpc-js';

export interface NumberedGrpc {
  /** Makes `count` calls, `atOnce` in flight at a time, numbered on from the last; resolves when all are answered. */
  calls(count: number, atOnce: number): Promise<void>;
  /** Status codes the client saw, by code. */
  readonly codes: Map<number, number>;
  close(): void;
}

export async function numberedGrpc(path: string, answerBytes: (n: number) => number): Promise<NumberedGrpc> {
  const raw = (b: Buffer) => b;
  const def = { call: { path, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } };
  const server = new grpc.Server();
  server.addService(def, {
    call: (c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const n = c.request.readUInt32LE(0);
      if (n % 5 === 0) cb({ code: grpc.status.NOT_FOUND, details: `no ${n}` });
      else cb(null, Buffer.alloc(answerBytes(n), n & 0xff));
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const Client = grpc.makeGenericClientConstructor(def, 'Numbered');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as { call: (req: Buffer, cb: (e: grpc.ServiceError | null) => void) => void } & grpc.Client;
  const codes = new Map<number, number>();
  let next = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = Buffer.alloc(4);
      req.writeUInt32LE(next++);
      client.call(req, (e) => {
        const code = e?.code ?? 0;
        codes.set(code, (codes.get(code) ?? 0) + 1);
        resolve();
      });
    });
  return {
    codes,
    async calls(count, atOnce) {
      for (let done = 0; done < count; done += atOnce) await Promise.all(Array.from({ length: Math.min(atOnce, count - done) }, one));
    },
    close() {
      client.close();
      server.forceShutdown();
    },
  };
}
