// Stands in for heimdall-pump (HEIMDALL_PUMP_PATH=bench/replay/pump.sh): writes a recording of
// the real pump's output (REPLAY_FILE) at the pace it was recorded, in bursts of BURST_MS of
// recorded time as the real pump wakes, then says so on stderr and waits to be stopped.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { EVENT, EV_CLOSE, EV_DATA, EV_HELLO } from '../../src/agent/capture/event-layout.ts';

const data = readFileSync(process.env.REPLAY_FILE ?? '');
const burstNs = Number(process.env.BURST_MS ?? 220) * 1e6;
const endNs = (at: number) => data.readUInt32LE(at + EVENT.end_ns + 4) * 2 ** 32 + data.readUInt32LE(at + EVENT.end_ns);

async function write(from: number, to: number): Promise<void> {
  if (to > from && !process.stdout.write(data.subarray(from, to))) await new Promise((r) => process.stdout.once('drain', r));
}

let flushed = 0;
let firstNs = -1;
const t0 = performance.now() * 1e6;
for (let at = 0; at + 4 <= data.length; ) {
  const next = at + 4 + data.readUInt32LE(at);
  const kind = data.readUInt32LE(at + 4);
  if (kind === EV_HELLO) {
    await write(flushed, next);
    flushed = next;
  } else if (kind === EV_DATA || kind === EV_CLOSE) {
    const ns = endNs(at + 4);
    if (firstNs < 0) firstNs = ns;
    const ahead = t0 + (ns - firstNs) - performance.now() * 1e6;
    if (ahead > burstNs) {
      await write(flushed, at);
      flushed = at;
      await sleep(ahead / 1e6);
    }
  }
  at = next;
}
await write(flushed, data.length);
process.stderr.write('heimdall-pump: note replay done\n');
setInterval(() => undefined, 1 << 30);
