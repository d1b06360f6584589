import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envBool, envDurationMs, envInt, parseDurationMs } from './env.ts';

test('Go-style durations', () => {
  assert.equal(parseDurationMs('2s'), 2000);
  assert.equal(parseDurationMs('500ms'), 500);
  assert.equal(parseDurationMs('1m30s'), 90_000);
  assert.equal(parseDurationMs('1.5h'), 5_400_000);
  assert.equal(parseDurationMs('0'), 0);
  assert.equal(parseDurationMs('2'), null);
  assert.equal(parseDurationMs('2 s'), null);
  assert.equal(parseDurationMs(''), null);
});

test('bad values name the variable, the value and what is expected', () => {
  assert.throws(() => envDurationMs({ AGENT_FLUSH_INTERVAL: 'soon' }, 'AGENT_FLUSH_INTERVAL', '2s'), /AGENT_FLUSH_INTERVAL="soon" is invalid: expected a duration/);
  assert.throws(() => envInt({ AGENT_BATCH_SIZE: '-1' }, 'AGENT_BATCH_SIZE', 200, 1, 10), /AGENT_BATCH_SIZE="-1" is invalid: expected a whole number from 1 to 10/);
  assert.throws(() => envBool({ X: 'maybe' }, 'X', false), /X="maybe" is invalid: expected true or false/);
  assert.equal(envDurationMs({ D: '0' }, 'D', '15s', { allowZero: true }), 0);
  assert.throws(() => envDurationMs({ D: '0' }, 'D', '15s'), /at least/);
  assert.equal(envInt({}, 'N', 7, 1, 10), 7);
});
