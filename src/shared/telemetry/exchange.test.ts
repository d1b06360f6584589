import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpExchange } from '../proto/gen/heimdall/v1/ingest.ts';
import { nsToRfc3339, pathTemplate, validateWireExchange } from './exchange.ts';

test('path templates fold ids, UUIDs and hashes', () => {
  assert.equal(pathTemplate('/users/42/orders/7f9c1c3a-2b4e-4c1d-9a8b-0123456789ab'), '/users/{id}/orders/{id}');
  assert.equal(pathTemplate('/blob/0123456789abcdef0123'), '/blob/{id}');
  assert.equal(pathTemplate('/api/v1/health'), '/api/v1/health');
  assert.equal(pathTemplate(''), '/');
});

test('RFC 3339 keeps nanoseconds', () => {
  assert.equal(nsToRfc3339(1_764_205_000_123_456_789n), '2025-11-27T00:56:40.123456789Z');
});

test('validation names the field and the problem', () => {
  const now = BigInt(Date.now()) * 1_000_000n;
  const ok = HttpExchange.fromPartial({ id: '6a2f41a3-c54c-4ce8-92d2-0324e1c32e22', timestampUnixNano: now, status: 200, method: 'GET', srcIp: '127.0.0.1', dstIp: '::1' });
  assert.equal(validateWireExchange(ok, now), null);
  assert.match(validateWireExchange({ ...ok, status: 70000 }, now)!, /^status: 70000 is out of range/);
  assert.match(validateWireExchange({ ...ok, srcPort: 70000 }, now)!, /^src_port/);
  assert.match(validateWireExchange({ ...ok, dstIp: 'nope' }, now)!, /^dst_ip/);
  assert.match(validateWireExchange({ ...ok, id: 'x' }, now)!, /^id/);
  assert.match(validateWireExchange({ ...ok, method: 'G E T' }, now)!, /^method/);
  assert.match(validateWireExchange({ ...ok, timestampUnixNano: 5n }, now)!, /^timestamp_unix_nano/);
  assert.match(validateWireExchange({ ...ok, path: 'x'.repeat(9000) }, now)!, /^path: 9000 characters/);
  assert.equal(validateWireExchange({ ...ok, status: 0, unmatched: true }, now), null);
});
