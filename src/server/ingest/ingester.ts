// Coalesces agent batches into large inserts (chDB makes one part per insert and has no
// async insert) and acknowledges each batch only once the insert holding it is stored.
// A batch id already stored is acknowledged as a duplicate and never stored twice.
//
// When an insert starts: a batch waits up to coalesceMs for others (at a steady light load,
// one insert per interval rather than one per batch: an insert costs the engine ~10 ms
// however small); at once when coalesceRows are waiting or a sender has half its window
// (ExportRequest.max_in_flight) waiting. A sender that fills half its window within the
// interval is therefore never held up by it.
//
// The per-minute view reads http_red_feed (a Null table), not every insert into
// http_exchanges: stored blocks are fed to it once a second (or per two full inserts), and
// at shutdown. That took the view off the per-insert cost (~half of an insert's engine CPU
// at 3k rows). A crash can lose up to a second of roll-up, never raw rows.
import { HeimdallError, errorMessage } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import { ExportRequest, type DiagnosticsReport, type HttpExchange } from '../../shared/proto/gen/heimdall/v1/ingest.ts';
import { loadRecentBatchIds } from '../storage/queries.ts';
import { EXCHANGE_COLUMNS, encodeDiagnosticsRow } from '../storage/rows.ts';
import { nativeBlock, transcodeExport } from './transcode.ts';
import type { ColumnData } from './native-block.ts';
import type { Store } from '../storage/store.ts';

const log = createLogger('ingest');

export interface IngesterOptions {
  coalesceRows: number;
  coalesceMs: number;
  maxPendingRows: number;
  /** How long stored batch ids are remembered for dedup (also loaded back at start). */
  dedupWindowMs: number;
}

/** One sender (an ExportStream, or a unary call): how many of its batches wait for an insert. */
export interface Sender {
  queued: number;
}

interface Pending {
  batchId: string;
  sender: Sender;
  rows: number;
  /** performance.now() when it was queued. */
  at: number;
  /** The batch's rows by column; a coalesced insert joins its batches into one Native block. */
  columns: ColumnData;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface IngestMetrics {
  batches: number;
  rows: number;
  duplicates: number;
  invalid: number;
  shed: number;
  insertFailures: number;
  inserts: number;
  insertSecondsSum: number;
  diagnostics: number;
  /** Inserts into the per-minute view's feed, and rows it could not take (storage down too long). */
  feedInserts: number;
  feedDropped: number;
}

const FEED_MAX_MS = 1000;

export class Ingester {
  readonly metrics: IngestMetrics = { batches: 0, rows: 0, duplicates: 0, invalid: 0, shed: 0, insertFailures: 0, inserts: 0, insertSecondsSum: 0, diagnostics: 0, feedInserts: 0, feedDropped: 0 };
  private readonly store: Store;
  private readonly opts: IngesterOptions;
  private readonly stored = new Map<string, number>(); // batch id → stored at (ms)
  private readonly inflight = new Map<string, Promise<void>>();
  private queue: Pending[] = [];
  private diagQueue: Buffer[] = [];
  private queuedRows = 0;
  private timer: NodeJS.Timeout | null = null;
  /** A sender has half the batches it may keep in flight waiting here: insert now. */
  private senderWaiting = false;
  /** When the oldest diagnostics report waiting arrived (performance.now()). */
  private diagSince = 0;
  private flushing: Promise<void> | null = null;
  private closed = false;
  /** Blocks stored in http_exchanges and not yet fed to the per-minute view. */
  private feedBlocks: Buffer[] = [];
  private feedRows = 0;
  private feedSince = 0;
  private feedTimer: NodeJS.Timeout | null = null;

  constructor(store: Store, opts: IngesterOptions) {
    this.store = store;
    this.opts = opts;
  }

  get pendingRows(): number {
    return this.queuedRows;
  }

  async start(): Promise<void> {
    const since = Date.now() - this.opts.dedupWindowMs;
    for (const id of await loadRecentBatchIds(this.store, since)) this.stored.set(id, since);
    log.info('dedup window loaded', { batches: this.stored.size });
  }

  /** Records as objects (tests, tools): encoded to the wire form and taken through the one ingest path. */
  submit(batchId: string, agentId: string, exchanges: HttpExchange[], maxInFlight = 0): Promise<{ accepted: number; duplicate: boolean }> {
    return this.submitExport(Buffer.from(ExportRequest.encode({ batchId, agentId, node: '', maxInFlight, exchanges }).finish()), { queued: 0 });
  }

  /** An ExportRequest as it came off the wire: validated and encoded for storage in one pass. */
  async submitExport(msg: Buffer, sender: Sender): Promise<{ accepted: number; duplicate: boolean }> {
    const t = transcodeExport(msg, BigInt(Date.now()) * 1_000_000n);
    if (!t.ok) {
      this.metrics.invalid++;
      throw new HeimdallError('BATCH_INVALID', `${t.error}; nothing of batch ${t.batchId || '(no id)'} was stored`);
    }
    const batchId = t.value.batchId;
    const { count } = t.value;
    if (this.closed) throw new HeimdallError('STORAGE_UNAVAILABLE', 'server is shutting down; retry against the restarted server');
    if (!/^[\w.:-]{1,128}$/.test(batchId)) throw new HeimdallError('BATCH_INVALID', 'batch_id: must be 1-128 characters of letters, digits, "_", "-", ".", ":"');
    if (this.stored.has(batchId)) {
      this.metrics.duplicates++;
      return { accepted: count, duplicate: true };
    }
    const running = this.inflight.get(batchId);
    if (running) {
      await running;
      this.metrics.duplicates++;
      return { accepted: count, duplicate: true };
    }
    if (this.queuedRows + count > this.opts.maxPendingRows) {
      this.metrics.shed++;
      throw new HeimdallError('OVERLOADED', `server has ${this.queuedRows} rows waiting for storage; retry later`);
    }
    if (count === 0) return { accepted: 0, duplicate: false };
    // Half a sender's window waiting: store it now, and the other half arrives during the
    // insert (waiting for the whole window leaves storage idle while the sender refills it).
    sender.queued++;
    if (t.value.maxInFlight > 0 && sender.queued * 2 >= t.value.maxInFlight) this.senderWaiting = true;
    const done = new Promise<void>((resolve, reject) => {
      this.queue.push({ batchId, sender, rows: count, at: performance.now(), columns: t.value.columns, resolve, reject });
    });
    this.inflight.set(batchId, done);
    this.queuedRows += count;
    this.schedule();
    try {
      await done;
    } finally {
      this.inflight.delete(batchId);
    }
    this.metrics.batches++;
    this.metrics.rows += count;
    return { accepted: count, duplicate: false };
  }

  async submitDiagnostics(report: DiagnosticsReport): Promise<void> {
    if (this.closed) throw new HeimdallError('STORAGE_UNAVAILABLE', 'server is shutting down');
    if (!report.agentId || report.agentId.length > 128) throw new HeimdallError('BATCH_INVALID', 'agent_id: required, at most 128 characters');
    if (this.diagQueue.length === 0) this.diagSince = performance.now();
    this.diagQueue.push(encodeDiagnosticsRow(report));
    this.metrics.diagnostics++;
    this.schedule();
  }

  private schedule(): void {
    if (this.flushing || (this.queue.length === 0 && this.diagQueue.length === 0)) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.queuedRows >= this.opts.coalesceRows || this.senderWaiting) {
      this.flushing = this.drain();
      return;
    }
    // Otherwise the oldest waiting batch waits up to coalesceMs for others to join it: at a
    // steady light load that is one insert per interval, not one per batch.
    const oldest = Math.min(this.queue[0]?.at ?? Infinity, this.diagQueue.length > 0 ? this.diagSince : Infinity);
    const due = oldest + this.opts.coalesceMs;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.flushing) this.flushing = this.drain();
    }, Math.max(0, due - performance.now()));
    this.timer.unref();
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 || this.diagQueue.length > 0) {
        this.senderWaiting = false;
        const take: Pending[] = [];
        let rows = 0;
        while (this.queue.length > 0 && (rows < this.opts.coalesceRows || take.length === 0)) {
          const p = this.queue.shift()!;
          p.sender.queued--;
          take.push(p);
          rows += p.rows;
        }
        if (take.length > 0) {
          try {
            await this.insert(take, rows);
          } finally {
            this.queuedRows -= rows;
          }
        }
        if (this.diagQueue.length > 0) {
          const diag = this.diagQueue;
          this.diagQueue = [];
          try {
            await this.store.insertJsonLines(`${this.store.database}.agent_diagnostics`, Buffer.concat(diag));
          } catch (err) {
            log.warn('diagnostics insert failed', { err: errorMessage(err) });
          }
        }
        if (this.queuedRows < this.opts.coalesceRows && !this.closed) break;
      }
      if (this.feedRows > 0 && (this.closed || this.feedDue(Date.now()))) await this.feed();
      else this.armFeed();
    } finally {
      this.flushing = null;
      if (this.queue.length > 0 || this.diagQueue.length > 0) this.schedule();
    }
  }

  private async insert(take: Pending[], rows: number): Promise<void> {
    const t0 = performance.now();
    try {
      const block = nativeBlock(take.map((p) => p.columns));
      await this.store.insertNative(`${this.store.database}.http_exchanges`, block, EXCHANGE_COLUMNS);
      this.metrics.inserts++;
      this.metrics.insertSecondsSum += (performance.now() - t0) / 1000;
      const now = Date.now();
      if (this.feedRows === 0) this.feedSince = now;
      this.feedBlocks.push(block);
      this.feedRows += rows;
      if (this.feedDue(now)) await this.feed();
      for (const p of take) {
        this.stored.set(p.batchId, now);
        p.resolve();
      }
      this.pruneStored(now);
    } catch (err) {
      this.metrics.insertFailures++;
      const isData = err instanceof HeimdallError && err.code === 'STORAGE_QUERY';
      if (isData && take.length > 1) {
        // One bad batch must not fail the others it was coalesced with: store them one by one.
        for (const p of take) await this.insert([p], p.rows);
        return;
      }
      const e = isData
        ? new HeimdallError('BATCH_INVALID', `storage rejected the batch: ${errorMessage(err)}`)
        : new HeimdallError('STORAGE_UNAVAILABLE', `storage is unavailable: ${errorMessage(err)}; retry later`);
      log.warn('insert failed', { batches: take.length, rows, err: errorMessage(err) });
      for (const p of take) p.reject(e);
    }
  }

  /** Stored rows have waited a second for the view, or two full inserts' worth wait. */
  private feedDue(now: number): boolean {
    return this.feedRows >= 2 * this.opts.coalesceRows || now - this.feedSince >= FEED_MAX_MS;
  }

  /** Feeds the view what waits once it is due, unless an insert runs (its drain feeds at its end). */
  private armFeed(): void {
    if (this.feedTimer || this.feedRows === 0 || this.closed) return;
    this.feedTimer = setTimeout(() => {
      this.feedTimer = null;
      if (this.flushing) return;
      this.flushing = this.feed().finally(() => {
        this.flushing = null;
        this.schedule();
        this.armFeed();
      });
    }, Math.max(0, this.feedSince + FEED_MAX_MS - Date.now()));
    this.feedTimer.unref();
  }

  /** Feeds the per-minute view what is stored and not yet fed. Never fails the batches: they are stored. */
  private async feed(): Promise<void> {
    if (this.feedRows === 0) return;
    const blocks = this.feedBlocks;
    const rows = this.feedRows;
    this.feedBlocks = [];
    this.feedRows = 0;
    try {
      await this.store.insertNative(`${this.store.database}.http_red_feed`, Buffer.concat(blocks), EXCHANGE_COLUMNS);
      this.metrics.feedInserts++;
    } catch (err) {
      // Kept for the next try while it fits beside what waits for storage; beyond that the
      // roll-up misses those rows (the raw rows are stored) and the metric says how many.
      if (rows + this.feedRows <= this.opts.maxPendingRows) {
        this.feedBlocks = [...blocks, ...this.feedBlocks];
        this.feedRows += rows;
        this.feedSince = Date.now(); // tried again in FEED_MAX_MS
      } else this.metrics.feedDropped += rows;
      log.warn('feeding the per-minute view failed', { rows, err: errorMessage(err) });
    }
  }

  private pruneStored(now: number): void {
    if (this.stored.size < 200_000) return;
    const cutoff = now - this.opts.dedupWindowMs;
    for (const [id, at] of this.stored) {
      if (at >= cutoff && this.stored.size < 1_000_000) break;
      this.stored.delete(id);
    }
  }

  /** Stops intake and waits until everything accepted so far is stored (or failed). Idempotent. */
  async shutdown(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.feedTimer) clearTimeout(this.feedTimer);
    this.timer = this.feedTimer = null;
    while (this.flushing || this.queue.length > 0 || this.diagQueue.length > 0) {
      if (this.flushing) await this.flushing;
      else this.flushing = this.drain();
    }
    await this.feed();
  }
}
