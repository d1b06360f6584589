// Bounded queue between correlation and transport. Batches leave on size or on timer,
// several in flight at once (each retried on its own). While the server is unreachable
// the queue holds up to maxQueue records and counts what it has to drop beyond that.
import type { HttpExchange } from '../../shared/proto/gen/heimdall/v1/ingest.ts';

export interface BatcherOptions {
  batchSize: number;
  flushIntervalMs: number;
  maxQueue: number;
  /** Batches sent concurrently; one round trip per batch would cap throughput at batchSize/RTT. */
  maxInFlight: number;
}

/** Sends one batch; resolves when stored or given up on (the sender counts failures); rejects at shutdown. */
export type SendBatch = (batch: HttpExchange[]) => Promise<void>;

export class Batcher {
  drops = 0;
  private queue: HttpExchange[] = [];
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
    return this.queue.length;
  }

  start(): void {
    this.timer = setInterval(() => this.pump(), Math.max(10, Math.min(this.opts.flushIntervalMs, 250)));
    this.timer.unref();
  }

  /** false when the queue is full and the record was dropped. */
  push(x: HttpExchange): boolean {
    if (this.stopped || this.queue.length >= this.opts.maxQueue) {
      this.drops++;
      return false;
    }
    this.queue.push(x);
    if (this.queue.length >= this.opts.batchSize) this.pump();
    return true;
  }

  private pump(): void {
    while (this.inFlight < this.opts.maxInFlight && this.queue.length > 0) {
      const due = this.draining || this.queue.length >= this.opts.batchSize || Date.now() - this.lastFlush >= this.opts.flushIntervalMs;
      if (!due) return;
      const batch = this.queue.splice(0, this.opts.batchSize);
      this.lastFlush = Date.now();
      this.inFlight++;
      this.send(batch)
        .catch(() => {
          this.queue.unshift(...batch); // the sender gave up (shutdown): keep it counted
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
    this.drops += this.queue.length;
    this.queue = [];
  }
}
