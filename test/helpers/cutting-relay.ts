// A TCP relay that passes HTTP/2 (or any bytes) on in random pieces with pauses, so frames and
// frame headers are cut at every byte on its writes and arrive coalesced on its reads: for tests
// of capture across syscall boundaries (test/agent-h2-random).
import { Buffer } from 'node:buffer';
import net from 'node:net';
import { seeded } from './raw-http.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes a chunk as random pieces (cuts biased to the first bytes, where frame headers are), pausing now and then. */
async function writeRandom(to: net.Socket, d: Buffer, rnd: () => number): Promise<void> {
  const cuts: number[] = [];
  if (rnd() < 0.7) {
    const n = 1 + Math.floor(rnd() * 6);
    for (let k = 0; k < n; k++) cuts.push(1 + Math.floor(rnd() * (rnd() < 0.5 ? Math.min(d.length, 24) : d.length)));
  }
  let at = 0;
  for (const cut of [...cuts.filter((c) => c < d.length).sort((a, b) => a - b), d.length]) {
    if (cut <= at) continue;
    if (to.destroyed) return;
    await new Promise<void>((resolve) => to.write(d.subarray(at, cut), () => resolve()));
    at = cut;
    if (at < d.length && rnd() < 0.3) await sleep(1);
  }
}

async function writeCut(to: net.Socket, d: Buffer, cut: number): Promise<void> {
  await new Promise<void>((resolve) => to.write(d.subarray(0, cut), () => resolve()));
  await sleep(5);
  await new Promise<void>((resolve) => to.write(d.subarray(cut), () => resolve()));
}

/**
 * One direction of the relay: while a chunk is being written in pieces, reading waits, so reads
 * coalesce. cut: the first chunk (every one, with `every`) goes out as its first `cut` bytes,
 * a pause, then the rest.
 */
function forward(from: net.Socket, to: net.Socket, rnd: () => number, cut = 0, every = false, inject?: Buffer): void {
  let chain = Promise.resolve();
  let first = cut > 0;
  const frames = inject ? new FrameCursor() : null;
  from.on('data', (d: Buffer) => {
    from.pause();
    if (frames && inject) d = frames.insert(d, inject);
    const write = first && d.length > cut ? () => writeCut(to, d, cut) : () => writeRandom(to, d, rnd);
    first = every;
    chain = chain.then(write).then(() => void from.resume());
  });
  from.on('end', () => void chain.then(() => to.end()));
  from.on('error', () => to.destroy());
}

/**
 * A relay to targetPort on 127.0.0.1 whose pieces come from `seed`: one per connection, so a
 * connection replays alone with the same pieces. cuts: where the first chunk of each direction
 * (client → server, server → client) is cut, or every chunk with `every` (Node writes whole
 * frames: then every write's first frame header).
 */
export async function startCuttingRelay(seed: number, cuts: Cuts, targetPort: number): Promise<net.Server> {
  const relay = net.createServer((inbound) => {
    const outbound = net.connect(targetPort, '127.0.0.1');
    outbound.on('error', () => inbound.destroy());
    forward(inbound, outbound, seeded(seed * 2), cuts.at[0], cuts.every);
    forward(outbound, inbound, seeded(seed * 2 + 1), cuts.at[1], cuts.every, cuts.unknownFrames ? UNKNOWN_FRAMES : undefined);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  return relay;
}

export interface Cuts {
  at: [number, number];
  every?: boolean;
  /** Frames of types HTTP/2 does not define, in every chunk of the server's answers past its SETTINGS (peers ignore them, RFC 9113 5.5). */
  unknownFrames?: boolean;
}

/**
 * Follows frame boundaries in one direction (from the first byte, the server's SETTINGS first)
 * and puts extra frames in at the last boundary inside each chunk, past the SETTINGS.
 */
class FrameCursor {
  private left = 0; // payload bytes of the current frame still to come
  private hdr: number[] = [];
  private frames = 0;

  insert(d: Buffer, extra: Buffer): Buffer {
    let at = -1;
    for (let i = 0; i < d.length; ) {
      if (this.left === 0 && this.hdr.length === 0 && this.frames > 0) at = i;
      if (this.left > 0) {
        const n = Math.min(this.left, d.length - i);
        this.left -= n;
        i += n;
        continue;
      }
      this.hdr.push(d[i++]);
      if (this.hdr.length === 9) {
        this.left = (this.hdr[0] << 16) | (this.hdr[1] << 8) | this.hdr[2];
        this.hdr = [];
        this.frames++;
      }
    }
    return at < 0 ? d : Buffer.concat([d.subarray(0, at), extra, d.subarray(at)]);
  }
}

/** Extension frames of reserved types (as HTTP/2 GREASE sends them), on stream 0: peers must ignore them. */
const UNKNOWN_FRAMES = Buffer.concat([
  Buffer.from([0, 0, 5, 0x0b, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5]),
  Buffer.from([0, 0, 0, 0x2a, 0xff, 0, 0, 0, 0]),
  Buffer.from([0, 0, 3, 0xe9, 0, 0, 0, 0, 0, 9, 9, 9]),
]);
