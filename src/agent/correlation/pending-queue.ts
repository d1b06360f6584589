// The requests of one connection waiting for their answers, oldest first: a ring that keeps
// its slots. An Array emptied by shift() gave up its backing store in V8's runtime (a call into
// C++ per response) and grew a new one on the next push (per request).
import type { Message } from '../httpparse/message-stream.ts';

export interface PendingRequest {
  msg: Message;
  endNs: number | null;
  /** Already reported as unmatched: its late response is consumed silently. */
  ghost: boolean;
}

export class PendingQueue {
  private slots: (PendingRequest | undefined)[] = [undefined, undefined, undefined, undefined];
  private head = 0;
  length = 0;

  /** The oldest, or undefined when none waits. */
  get first(): PendingRequest | undefined {
    return this.length === 0 ? undefined : this.slots[this.head];
  }

  /** The i-th oldest (0 ≤ i < length). */
  at(i: number): PendingRequest {
    return this.slots[(this.head + i) & (this.slots.length - 1)]!;
  }

  push(p: PendingRequest): void {
    if (this.length === this.slots.length) this.grow();
    this.slots[(this.head + this.length) & (this.slots.length - 1)] = p;
    this.length++;
  }

  shift(): PendingRequest | undefined {
    if (this.length === 0) return undefined;
    const p = this.slots[this.head];
    this.slots[this.head] = undefined; // its message (and kept bytes) may go
    this.head = (this.head + 1) & (this.slots.length - 1);
    this.length--;
    return p;
  }

  forMessage(msg: Message): PendingRequest | undefined {
    for (let i = 0; i < this.length; i++) {
      const p = this.at(i);
      if (p.msg === msg) return p;
    }
    return undefined;
  }

  allGhosts(): boolean {
    for (let i = 0; i < this.length; i++) if (!this.at(i).ghost) return false;
    return true;
  }

  clear(): void {
    this.slots.fill(undefined);
    this.head = 0;
    this.length = 0;
  }

  /** Twice the slots (a power of two), oldest first again. */
  private grow(): void {
    const next: (PendingRequest | undefined)[] = new Array(this.slots.length * 2).fill(undefined);
    for (let i = 0; i < this.length; i++) next[i] = this.at(i);
    this.slots = next;
    this.head = 0;
  }
}
