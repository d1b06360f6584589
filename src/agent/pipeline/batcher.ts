// Bounded queue between correlation and transport. Batches leave on size or on timer,
// several in flight at once (each retried on its own). While the server is unreachable
// the queue holds up to maxQueue records and counts what it has to drop beyond that.
// Records are encoded as they arrive: the queue holds bytes, not objects.
import type { ExchangeRecord } from '../exchange-record.ts';
import { ExchangeEntries } from '../transport/export-encoder.ts';

export interface BatcherOptions {
  batchSize: number;
  flushIntervalMs: number;
  maxQueue: number;
  /** Batches sent concurrently; one round trip per batch would cap throughput at batchSize/RTT. */
  maxInFlight: number;
}

/** Sends one batch; resolves when stored or given up on (the sender counts failures); rejects at shutdown. */
export type SendBatch = (batch: ExchangeEntries) => Promise<void>;

export class Batcher {
  drops = 0;
  /** Full batches waiting for a free send slot, then the one being filled. */
  private sealed: ExchangeEntries[] = [];
  private open: ExchangeEntries | null = null;
  private queued = 0;
  private readonly opts: BatcherOptions;
  private readonly send: SendBatch;
  private timer: NodeJS.Timeout | null = null;
  private inFlight = 0;
  private idle: (() => void) | null = null;
  private lastFlush = Date.now();
  private stopped = false;
  private draining = false;

  constructor(opts: BatcherOptions, send: SendBatch) {
    this.opts = opts;
    this.send = send;
  }

  get length(): number {
    return this.queued;
  }

  start(): void {
    this.timer = setInterval(() => this.pump(), Math.max(10, Math.min(this.opts.flushIntervalMs, 250)));
    this.timer.unref();
  }

  /** Whether push would drop (the queue is full or shut). */
  get full(): boolean {
    return this.stopped || this.queued >= this.opts.maxQueue;
  }

  /** false when the queue is full and the record was dropped. */
  push(x: ExchangeRecord): boolean {
    if (this.full) {
      this.drops++;
      return false;
    }
    this.open ??= new ExchangeEntries(this.opts.batchSize);
    this.open.add(x);
    this.queued++;
    if (this.open.count >= this.opts.batchSize) {
      this.sealed.push(this.open);
      this.open = null;
      this.pump();
    }
    return true;
  }

  private pump(): void {
    while (this.inFlight < this.opts.maxInFlight) {
      if (this.sealed.length === 0) {
        const due = this.draining || Date.now() - this.lastFlush >= this.opts.flushIntervalMs;
        if (!this.open || !due) return;
        this.sealed.push(this.open);
        this.open = null;
      }
      const batch = this.sealed.shift()!;
      this.queued -= batch.count;
      this.lastFlush = Date.now();
      this.inFlight++;
      this.send(batch)
        .catch(() => {
          this.sealed.unshift(batch); // the sender gave up (shutdown): keep it counted
          this.queued += batch.count;
          this.draining = false;
        })
        .finally(() => {
          this.inFlight--;
          if (this.inFlight === 0) this.idle?.();
          if (!this.stopped || this.draining) this.pump();
        });
    }
  }

  /** Sends what is queued, until the deadline. Idempotent. */
  async shutdown(deadlineMs: number): Promise<void> {
    this.stopped = true;
    this.draining = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.pump();
    const until = Date.now() + deadlineMs;
    while (this.inFlight > 0 && Date.now() < until) {
      await new Promise<void>((resolve) => {
        this.idle = resolve;
        setTimeout(resolve, Math.max(1, until - Date.now())).unref();
      });
      this.idle = null;
      if (this.draining) this.pump();
    }
    this.draining = false;
    this.drops += this.queued;
    this.sealed = [];
    this.open = null;
    this.queued = 0;
  }
}
