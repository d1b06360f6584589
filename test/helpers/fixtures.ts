// Records for tests and benchmarks that exercise the server without the agent.
import { randomUUID } from 'node:crypto';
import { HttpExchange } from '../../src/shared/proto/gen/heimdall/v1/ingest.ts';

let n = 0;

export function makeExchange(over: Partial<HttpExchange> = {}): HttpExchange {
  n++;
  return HttpExchange.fromPartial({
    id: randomUUID(),
    timestampUnixNano: BigInt(Date.now()) * 1_000_000n - BigInt(n % 1000) * 1_000_000n,
    durationNs: BigInt(1_000_000 + (n % 50) * 100_000),
    node: 'node-a',
    pid: 1000 + (n % 3),
    process: n % 2 ? 'nginx' : 'api',
    role: 1,
    srcIp: '10.0.0.1',
    srcPort: 40000 + (n % 1000),
    dstIp: '10.0.0.2',
    dstPort: 8080,
    method: 'GET',
    host: 'shop.local',
    path: `/items/${n % 100}`,
    query: 'page=1',
    httpVersion: '1.1',
    status: 200,
    requestBytes: 120n,
    responseBytes: 512n,
    userAgent: 'bench/1.0',
    requestSample: Buffer.from(`GET /items/${n % 100}?page=1 HTTP/1.1\r\nHost: shop.local\r\n\r\n`),
    responseSample: Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
    ...over,
  });
}
