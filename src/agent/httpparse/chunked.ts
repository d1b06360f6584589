// Chunked transfer-coding framing, fed with captured bytes and with gaps (bytes the
// capture did not copy). A gap inside chunk data is skipped exactly; a gap over framing
// bytes loses the framing, reported as 'lost'.

type State = 'size' | 'ext' | 'size-lf' | 'data' | 'data-cr' | 'data-lf' | 'trailer-start' | 'trailer-line' | 'trailer-lf' | 'end-lf' | 'done';

export type ChunkStep = { status: 'more' } | { status: 'done'; consumed: number } | { status: 'lost' };

export class ChunkedDecoder {
  private state: State = 'size';
  private size = 0;
  private remaining = 0;
  private digits = 0;

  get done(): boolean {
    return this.state === 'done';
  }

  /** Feeds bytes; 'done' tells how many of them ended the body (the rest is the next message). */
  feed(b: Uint8Array, start = 0, end = b.length): ChunkStep {
    let i = start;
    while (i < end) {
      const c = b[i];
      switch (this.state) {
        case 'size': {
          const v = hexValue(c);
          if (v >= 0 && this.digits < 15) {
            this.size = this.size * 16 + v;
            this.digits++;
            i++;
          } else if (this.digits > 0 && (c === 0x3b || c === 0x20 || c === 0x09)) {
            this.state = 'ext';
            i++;
          } else if (this.digits > 0 && c === 0x0d) {
            this.state = 'size-lf';
            i++;
          } else if (this.digits > 0 && c === 0x0a) {
            i++;
            this.afterSize();
          } else return { status: 'lost' };
          break;
        }
        case 'ext':
          if (c === 0x0a) this.afterSize();
          else if (c === 0x0d) this.state = 'size-lf';
          i++;
          break;
        case 'size-lf':
          if (c !== 0x0a) return { status: 'lost' };
          i++;
          this.afterSize();
          break;
        case 'data': {
          const take = Math.min(this.remaining, end - i);
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) this.state = 'data-cr';
          break;
        }
        case 'data-cr':
          if (c === 0x0d) { this.state = 'data-lf'; i++; }
          else if (c === 0x0a) { i++; this.nextChunk(); }
          else return { status: 'lost' };
          break;
        case 'data-lf':
          if (c !== 0x0a) return { status: 'lost' };
          i++;
          this.nextChunk();
          break;
        case 'trailer-start':
          if (c === 0x0d) { this.state = 'end-lf'; i++; }
          else if (c === 0x0a) { i++; this.state = 'done'; return { status: 'done', consumed: i - start }; }
          else { this.state = 'trailer-line'; i++; }
          break;
        case 'trailer-line':
          if (c === 0x0a) this.state = 'trailer-start';
          i++;
          break;
        case 'trailer-lf':
        case 'end-lf':
          if (c !== 0x0a) return { status: 'lost' };
          i++;
          this.state = 'done';
          return { status: 'done', consumed: i - start };
        case 'done':
          return { status: 'done', consumed: i - start };
      }
    }
    return this.state === 'done' ? { status: 'done', consumed: i - start } : { status: 'more' };
  }

  /** Bytes moved but not captured: fine while they fall inside chunk data. */
  skip(n: number): ChunkStep {
    if (n === 0) return { status: 'more' };
    if (this.state === 'data' && n <= this.remaining) {
      this.remaining -= n;
      if (this.remaining === 0) this.state = 'data-cr';
      return { status: 'more' };
    }
    // Writers send "size CRLF data CRLF" together: a gap of exactly data + CRLF ends the chunk.
    if (this.state === 'data' && n === this.remaining + 2) {
      this.nextChunk();
      return { status: 'more' };
    }
    return { status: 'lost' };
  }

  private afterSize(): void {
    if (this.size === 0) this.state = 'trailer-start';
    else {
      this.remaining = this.size;
      this.state = 'data';
    }
  }

  private nextChunk(): void {
    this.state = 'size';
    this.size = 0;
    this.digits = 0;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}
