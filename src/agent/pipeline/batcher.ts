// Bounded queue between correlation and transport. Batches leave on size or on timer;
// while the server is unreachable the queue holds up to maxQueue records and counts what
// it has to drop beyond that.
import type { HttpExchange } from '../../shared/proto/gen/heimdall/v1/ingest.ts';

export interface BatcherOptions {
  batchSize: number;
  flushIntervalMs: number;
  maxQueue: number;
}

/** Sends one batch; resolves when stored or given up on (the sender counts failures). */
export type SendBatch = (batch: HttpExchange[]) => Promise<void>;

export class Batcher {
  drops = 0;
  private queue: HttpExchange[] = [];
  private readonly opts: BatcherOptions;
  private readonly send: SendBatch;
  private timer: NodeJS.Timeout | null = null;
  private sending: Promise<void> | null = null;
  private lastFlush = Date.now();
  private stopped = false;

  constructor(opts: BatcherOptions, send: SendBatch) {
    this.opts = opts;
    this.send = send;
  }

  get length(): number {
    return this.queue.length;
  }

  start(): void {
    this.timer = setInterval(() => this.pump(false), Math.max(10, Math.min(this.opts.flushIntervalMs, 250)));
    this.timer.unref();
  }

  /** false when the queue is full and the record was dropped. */
  push(x: HttpExchange): boolean {
    if (this.stopped || this.queue.length >= this.opts.maxQueue) {
      this.drops++;
      return false;
    }
    this.queue.push(x);
    if (this.queue.length >= this.opts.batchSize) this.pump(false);
    return true;
  }

  private pump(force: boolean): void {
    if (this.sending || this.queue.length === 0) return;
    const due = force || this.queue.length >= this.opts.batchSize || Date.now() - this.lastFlush >= this.opts.flushIntervalMs;
    if (!due) return;
    this.sending = (async () => {
      try {
        while (this.queue.length > 0) {
          const batch = this.queue.splice(0, this.opts.batchSize);
          this.lastFlush = Date.now();
          try {
            await this.send(batch);
          } catch {
            this.queue.unshift(...batch); // the sender gave up (shutdown): keep it counted
            break;
          }
          if (!force && this.queue.length < this.opts.batchSize) break;
        }
      } finally {
        this.sending = null;
      }
    })();
  }

  /** Sends what is queued, until the deadline. Idempotent. */
  async shutdown(deadlineMs: number): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const until = Date.now() + deadlineMs;
    while ((this.sending || this.queue.length > 0) && Date.now() < until) {
      if (!this.sending) this.pump(true);
      await Promise.race([this.sending, new Promise((r) => setTimeout(r, Math.max(1, until - Date.now())).unref())]);
    }
    this.drops += this.queue.length;
    this.queue = [];
  }
}
