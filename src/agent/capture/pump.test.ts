import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { dataRecord } from '../../../test/helpers/records.ts';
import { HELLO, EV_HELLO } from './event-layout.ts';
import { capturePrerequisiteProblem, PumpCapture } from './pump.ts';
import { tempDir } from '../../../test/helpers/temp-dir.ts';

const frame = (b: Buffer) => Buffer.concat([Buffer.from(Uint32Array.of(b.length).buffer), b]);

// A stand-in for heimdall-pump that writes its HELLO and records in one write, as the real one
// does when the ring already holds records by the time it starts polling.
const problem = capturePrerequisiteProblem('/bin/sh');
test('the HELLO is handed over before the records that share its read', { skip: problem ?? false }, async () => {
  const hello = Buffer.alloc(HELLO.size);
  hello.writeUInt32LE(EV_HELLO, HELLO.kind);
  hello.writeBigInt64LE(1_700_000_000_000_000_000n, HELLO.realtime_offset_ns);
  const rec = dataRecord({ tgid: 7, fd: 5, sock: 1n, direction: 1, startNs: 1e9, endNs: 1e9, len: 18, payload: Buffer.from('GET / HTTP/1.1\r\n\r\n'), lport: 40000, rport: 80, comm: 'curl' });
  const dir = tempDir('heimdall-pump-');
  writeFileSync(join(dir, 'frames'), Buffer.concat([frame(hello), frame(rec), frame(rec)]));
  writeFileSync(join(dir, 'pump'), `#!/bin/sh\ncat '${join(dir, 'frames')}'\nexec sleep 5\n`);
  chmodSync(join(dir, 'pump'), 0o755);
  const order: string[] = [];
  const pump = new PumpCapture({ binary: join(dir, 'pump'), captureBytes: 128, excludePids: [] }, {
    onHello: () => order.push('hello'),
    onEvent: () => order.push('event'),
    onStats: () => undefined,
    onExit: () => undefined,
  });
  await pump.start();
  await new Promise((r) => setTimeout(r, 100));
  await pump.shutdown();
  assert.deepEqual(order, ['hello', 'event', 'event']);
});
