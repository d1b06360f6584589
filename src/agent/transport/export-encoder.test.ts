import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExportRequest, HttpExchange } from '../../shared/proto/gen/heimdall/v1/ingest.ts';
import { encodeEntries, encodeExportRequest } from './export-encoder.ts';

test('bytes are identical to the generated encoder', () => {
  let seed = 11;
  const rnd = (n: number) => Math.floor(((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * n);
  const words = ['', 'a', 'GET', '/items/42', 'é', '日本', 'x'.repeat(200), 'k8s-pod-7f9c', '\u0000\u007f', '\ud83d\ude00'];
  const word = () => words[rnd(words.length)];
  const big = (n: number) => BigInt(rnd(n)) * BigInt(rnd(n));
  for (let round = 0; round < 300; round++) {
    const exchanges: HttpExchange[] = [];
    for (let i = 0, n = rnd(6); i < n; i++) {
      const labels: Record<string, string> = {};
      for (let k = 0, m = rnd(3); k < m; k++) labels[word() || 'k'] = word();
      exchanges.push(HttpExchange.fromPartial({
        id: word(), timestampUnixNano: BigInt.asUintN(64, big(2 ** 31) * BigInt(rnd(3) === 0 ? 1 : rnd(2 ** 31))), durationNs: big(2 ** 30), node: word(), pid: rnd(2 ** 31), process: word(),
        containerId: word(), namespace: word(), pod: word(), container: word(), labels, role: rnd(3) as 0 | 1 | 2, srcIp: word(), srcPort: rnd(65536),
        dstIp: word(), dstPort: rnd(65536), method: word(), host: word(), path: word(), query: word(), httpVersion: word(), status: rnd(600),
        requestBytes: big(2 ** 26), responseBytes: BigInt(rnd(2)) * 9007199254740991n, // the agent's counts stay below 2^53 userAgent: word(), traceparent: word(),
        // sizes around the 1-, 2- and 3-byte length prefixes of the sub-message
        requestSample: Buffer.alloc([0, 10, 100, 20_000][rnd(4)], rnd(256)), responseSample: Buffer.alloc(rnd(300), 0x41),
        requestTruncated: rnd(2) === 1, responseTruncated: rnd(2) === 1, unmatched: rnd(2) === 1, tls: rnd(2) === 1, grpcStatus: rnd(3) === 0 ? String(rnd(17)) : '',
      }));
    }
    const req: ExportRequest = { batchId: word(), agentId: word(), node: word(), maxInFlight: rnd(2) * rnd(300), exchanges };
    const ours = encodeExportRequest(req);
    const theirs = Buffer.from(ExportRequest.encode(req).finish());
    // max_in_flight (field 5) goes before the exchanges (field 4) so the header fits in front
    // of them; protobuf allows any order, so then only the decoded message must be the same.
    if (req.maxInFlight) assert.deepEqual(ExportRequest.decode(ours), ExportRequest.decode(theirs), `round ${round}`);
    else assert.deepEqual(ours, theirs, `round ${round}`);
  }
});

test('a request with room kept in front for the transport: the same message after it, whether its header fits the headroom or not', () => {
  for (const node of ['node-1', 'n'.repeat(2000)]) {
    const entries = encodeEntries([HttpExchange.fromPartial({ id: 'a', path: '/x', status: 200 })]);
    const plain = Buffer.from(entries.request('batch-1', 'agent-1', node, 4));
    const spared = entries.request('batch-1', 'agent-1', node, 4, 5);
    assert.deepEqual(Buffer.from(spared.subarray(5)), plain, `node of ${node.length} characters`);
    assert.equal(ExportRequest.decode(spared.subarray(5)).node, node);
  }
});
