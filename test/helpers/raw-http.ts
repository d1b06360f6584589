// Byte-exact HTTP/1.1 over node:net for tests that must control every byte and every syscall
// boundary: a reader that frames messages from a socket, and writes split into pieces.
import type net from 'node:net';

export interface RawHead {
  line: string;
  headers: Map<string, string>;
  bytes: number;
}

export class ByteReader {
  private buf = Buffer.alloc(0);
  private ended = false;
  private wake: (() => void) | null = null;

  constructor(sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake?.();
    });
    sock.on('end', () => {
      this.ended = true;
      this.wake?.();
    });
    sock.on('error', () => {
      this.ended = true;
      this.wake?.();
    });
  }

  private async more(): Promise<boolean> {
    if (this.ended) return false;
    await new Promise<void>((resolve) => (this.wake = resolve));
    this.wake = null;
    return true;
  }

  /** The next head, or null at a clean end of stream. */
  async head(): Promise<RawHead | null> {
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        const text = this.buf.subarray(0, end).toString('latin1');
        this.buf = this.buf.subarray(end + 4);
        const [line, ...rest] = text.split('\r\n');
        const headers = new Map<string, string>();
        for (const h of rest) {
          const c = h.indexOf(':');
          headers.set(h.slice(0, c).trim().toLowerCase(), h.slice(c + 1).trim());
        }
        return { line, headers, bytes: end + 4 };
      }
      if (!(await this.more())) {
        if (this.buf.length === 0) return null;
        throw new Error(`stream ended inside a head: ${JSON.stringify(this.buf.toString('latin1').slice(0, 80))}`);
      }
    }
  }

  async take(n: number): Promise<Buffer> {
    while (this.buf.length < n) if (!(await this.more())) throw new Error(`stream ended ${n - this.buf.length} bytes short`);
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  private async line(): Promise<string> {
    for (;;) {
      const end = this.buf.indexOf('\r\n');
      if (end >= 0) return (await this.take(end + 2)).toString('latin1').slice(0, -2);
      if (!(await this.more())) throw new Error('stream ended inside a chunk line');
    }
  }

  /** A chunked body, extensions and trailers too; returns its wire length. */
  async chunked(): Promise<number> {
    let wire = 0;
    for (;;) {
      const line = await this.line();
      const size = parseInt(line, 16); // stops at a ';' extension
      wire += line.length + 2;
      if (size === 0) break;
      await this.take(size + 2);
      wire += size + 2;
    }
    for (;;) {
      const trailer = await this.line();
      wire += trailer.length + 2;
      if (trailer === '') return wire;
    }
  }

  /** Everything up to the end of the stream (a body read to close). */
  async rest(): Promise<number> {
    while (await this.more());
    const n = this.buf.length;
    this.buf = Buffer.alloc(0);
    return n;
  }

  /** The body a head announces by Content-Length or chunked framing; its wire length. */
  async body(h: RawHead): Promise<number> {
    if (h.headers.get('transfer-encoding') === 'chunked') return this.chunked();
    const n = Number(h.headers.get('content-length') ?? 0);
    await this.take(n);
    return n;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Writes bytes as the given pieces, each its own write; a pause between pieces makes the peer
 * read them apart (without one, a peer may find several pieces in one read).
 */
export async function writePieces(sock: net.Socket, bytes: Buffer, cuts: number[], pauseMs: number): Promise<void> {
  let at = 0;
  for (const cut of [...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length]) {
    if (cut <= at) continue;
    await new Promise<void>((resolve, reject) => sock.write(bytes.subarray(at, cut), (e) => (e ? reject(e) : resolve())));
    at = cut;
    if (pauseMs > 0 && at < bytes.length) await sleep(pauseMs);
  }
}

/** mulberry32: a small seeded generator, so a failing run can be replayed from its seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
