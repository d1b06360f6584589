// The ingest transcoder's protobuf reader: fields are read in place, without decoding
// the message into objects.

/** Protobuf wire reader over b[start..end). */
export class Reader {
  pos = 0;
  b: Buffer;
  end: number;
  constructor(b: Buffer, start: number, end: number) {
    this.b = b;
    this.pos = start;
    this.end = end;
  }
  reset(start: number, end: number): this {
    this.pos = start;
    this.end = end;
    return this;
  }
  /** Varint as a double (exact below 2^53, which every field here stays under), or -1 if malformed. */
  varint(): number {
    if (this.pos < this.end && this.b[this.pos] < 0x80) return this.b[this.pos++];
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) return -1;
      const c = this.b[this.pos++];
      result += (c & 0x7f) * mul;
      if (c < 0x80) return result;
      mul *= 128;
    }
    return -1;
  }
  skip(wire: number): boolean {
    if (wire === 0) return this.varint() >= 0;
    if (wire === 1) this.pos += 8;
    else if (wire === 5) this.pos += 4;
    else if (wire === 2) {
      const n = this.varint();
      if (n < 0) return false;
      this.pos += n;
    } else return false;
    return this.pos <= this.end;
  }
}

/** The batch_id (field 1) of ExportRequest bytes, without decoding the rest; '' if absent or malformed. */
export function batchIdOf(msg: Buffer): string {
  const r = new Reader(msg, 0, msg.length);
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag < 0) return '';
    if (tag === 0x0a) {
      const n = r.varint();
      return n < 0 || r.pos + n > r.end ? '' : msg.toString('utf8', r.pos, r.pos + n);
    }
    if (!r.skip(tag & 7)) return '';
  }
  return '';
}
