// Reads ClickHouse Native blocks back into rows, for tests of what ingest writes. Covers the
// types the exchange block uses; strings come back as Buffers (samples are raw bytes).
export type NativeValue = Buffer | number | bigint | boolean | string | [Buffer, Buffer][];

export function readNativeBlocks(b: Buffer): Record<string, NativeValue>[] {
  let p = 0;
  const varuint = () => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const c = b[p++];
      v += (c & 0x7f) * mul;
      if (c < 0x80) return v;
      mul *= 128;
    }
  };
  const str = () => {
    const n = varuint();
    const s = b.subarray(p, p + n);
    p += n;
    return s;
  };
  const rows: Record<string, NativeValue>[] = [];
  while (p < b.length) {
    const ncols = varuint();
    const nrows = varuint();
    const block: Record<string, NativeValue>[] = Array.from({ length: nrows }, () => ({}));
    for (let c = 0; c < ncols; c++) {
      const name = str().toString();
      const type = str().toString();
      if (type.startsWith('Map(')) {
        const offsets = block.map(() => {
          const v = Number(b.readBigUInt64LE(p));
          p += 8;
          return v;
        });
        const total = offsets.at(-1) ?? 0;
        const keys = Array.from({ length: total }, str);
        const values = Array.from({ length: total }, str);
        let prev = 0;
        block.forEach((row, i) => {
          row[name] = keys.slice(prev, offsets[i]).map((k, j) => [k, values[prev + j]]);
          prev = offsets[i];
        });
      } else {
        const read = valueReader(type, b, () => p, (n) => (p = n), str);
        for (const row of block) row[name] = read();
      }
    }
    rows.push(...block);
  }
  return rows;
}

function valueReader(type: string, b: Buffer, pos: () => number, set: (n: number) => void, str: () => Buffer): () => NativeValue {
  const fixed = (n: number, f: (at: number) => NativeValue) => () => {
    const v = f(pos());
    set(pos() + n);
    return v;
  };
  if (type === 'String') return str;
  if (type === 'UUID') {
    return fixed(16, (at) => {
      const hex = Buffer.concat([Buffer.from(b.subarray(at, at + 8)).reverse(), Buffer.from(b.subarray(at + 8, at + 16)).reverse()]).toString('hex');
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    });
  }
  if (type === 'UInt64' || type.startsWith('DateTime64')) return fixed(8, (at) => b.readBigUInt64LE(at));
  if (type === 'UInt32') return fixed(4, (at) => b.readUInt32LE(at));
  if (type === 'UInt16') return fixed(2, (at) => b.readUInt16LE(at));
  if (type === 'Bool') return fixed(1, (at) => b[at] === 1);
  if (type.startsWith('Enum8')) return fixed(1, (at) => b.readInt8(at));
  throw new Error(`readNativeBlocks: type ${type} not covered`);
}
