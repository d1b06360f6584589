import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nsToRfc3339, pathTemplate } from './exchange.ts';

test('path templates fold ids, UUIDs and hashes', () => {
  assert.equal(pathTemplate('/users/42/orders/7f9c1c3a-2b4e-4c1d-9a8b-0123456789ab'), '/users/{id}/orders/{id}');
  assert.equal(pathTemplate('/blob/0123456789abcdef0123'), '/blob/{id}');
  assert.equal(pathTemplate('/api/v1/health'), '/api/v1/health');
  assert.equal(pathTemplate(''), '/');
});

test('RFC 3339 keeps nanoseconds', () => {
  assert.equal(nsToRfc3339(1_764_205_000_123_456_789n), '2025-11-27T00:56:40.123456789Z');
});
