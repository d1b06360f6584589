// Connections by (process, socket): a process's view of a kernel socket, which a forked child
// may share. The usual key is a small integer mixed from the socket address and the tgid (a
// V8 Smi: hashed inline, never boxed; a key past 31 bits was a heap number per lookup); a
// second (tgid, socket) on a taken number goes to a text key. A text key made per event cost
// ~0.1 µs more than a number (creating and hashing the string).

/** Which connection an event belongs to (DataEvent has these). */
export interface SocketOf {
  tgid: number;
  sockHi: number;
  sockLo: number;
}

interface Slot<V> extends SocketOf {
  value: V;
}

// Sockets come from a slab: their low 6 address bits are the same for all of them.
export const numberKey = (k: SocketOf): number => ((k.sockLo >>> 6) ^ (k.sockHi << 26) ^ Math.imul(k.tgid, 0x9e3779b1)) & 0x3fffffff;

/** Six 16-bit characters: tgid and the 64-bit socket address. Not for display. */
const textKey = (k: SocketOf) => String.fromCharCode(k.tgid & 0xffff, k.tgid >>> 16, k.sockLo & 0xffff, k.sockLo >>> 16, k.sockHi & 0xffff, k.sockHi >>> 16);

const same = (s: SocketOf, k: SocketOf) => s.tgid === k.tgid && s.sockHi === k.sockHi && s.sockLo === k.sockLo;

export class ConnectionTable<V> {
  private readonly byNumber = new Map<number, Slot<V>>();
  private readonly byText = new Map<string, Slot<V>>();

  get size(): number {
    return this.byNumber.size + this.byText.size;
  }

  get(k: SocketOf): V | undefined {
    const s = this.byNumber.get(numberKey(k));
    if (s !== undefined && same(s, k)) return s.value;
    return this.byText.size === 0 ? undefined : this.byText.get(textKey(k))?.value;
  }

  set(k: SocketOf, value: V): void {
    const n = numberKey(k);
    const s = this.byNumber.get(n);
    const slot = { tgid: k.tgid, sockHi: k.sockHi, sockLo: k.sockLo, value };
    if (s === undefined) this.byNumber.set(n, slot);
    else if (same(s, k)) s.value = value;
    else this.byText.set(textKey(k), slot);
  }

  delete(k: SocketOf): boolean {
    const n = numberKey(k);
    const s = this.byNumber.get(n);
    if (s !== undefined && same(s, k)) return this.byNumber.delete(n);
    return this.byText.size > 0 && this.byText.delete(textKey(k));
  }

  /** Each connection with its key; the current one may be deleted while iterating. */
  *entries(): IterableIterator<[SocketOf, V]> {
    for (const s of this.byNumber.values()) yield [s, s.value];
    for (const s of this.byText.values()) yield [s, s.value];
  }

  clear(): void {
    this.byNumber.clear();
    this.byText.clear();
  }
}
