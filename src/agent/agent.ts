// The agent: capture → correlation → enrichment → bounded batching → gRPC transport,
// plus diagnostics counters logged locally and reported to the server.
import { randomUUID } from 'node:crypto';
import { HeimdallError, errorMessage } from '../shared/errors.ts';
import { createLogger } from '../shared/log.ts';
import type { DiagnosticsReport } from '../shared/proto/gen/heimdall/v1/ingest.ts';
import { VERSION } from '../shared/version.ts';
import type { AgentConfig } from './config.ts';
import type { StatsFrame } from './capture/decode.ts';
import { EV_CLOSE, EV_EXIT } from './capture/event-layout.ts';
import { PumpCapture } from './capture/pump.ts';
import { Correlator } from './correlation/correlator.ts';
import { PodCache } from './enrichment/k8s-pods.ts';
import { ProcessInfoCache } from './enrichment/process-info.ts';
import { Batcher } from './pipeline/batcher.ts';
import type { ExchangeRecord } from './exchange-record.ts';
import { GrpcSender } from './transport/grpc-sender.ts';

const log = createLogger('agent');
const monoNowNs = () => Number(process.hrtime.bigint()); // CLOCK_MONOTONIC, like bpf_ktime_get_ns

export interface AgentCounters {
  events: number;
  matched: number;
  unmatched: number;
  drops: number;
  send_failures: number;
  kernel_drops: number;
  queue_length: number;
  parse_errors: number;
}

export class Agent {
  readonly cfg: AgentConfig;
  readonly agentId = randomUUID();
  private readonly startedNs = BigInt(Date.now()) * 1_000_000n;
  private readonly sender: GrpcSender;
  private readonly batcher: Batcher;
  private readonly procs = new ProcessInfoCache();
  private readonly correlator: Correlator;
  private pump: PumpCapture | null = null;
  private pods: PodCache | null = null;
  private events = 0;
  /** Wall clock for cache ages, updated every 250 ms: a clock read per record was ~1% of the agent. */
  private nowMs = Date.now();
  private kernel: StatsFrame | null = null;
  private captureStatus = 'starting';
  private timers: NodeJS.Timeout[] = [];
  private fatal: ((err: Error) => void) | null = null;
  private stopping: Promise<void> | null = null;

  constructor(cfg: AgentConfig) {
    this.cfg = cfg;
    this.sender = new GrpcSender(cfg.serverAddr, this.agentId, cfg.nodeName, cfg.maxInFlight);
    this.batcher = new Batcher({ batchSize: cfg.batchSize, flushIntervalMs: cfg.flushIntervalMs, maxQueue: cfg.maxQueue, maxInFlight: cfg.maxInFlight }, (b) => this.sender.sendBatch(b));
    this.correlator = new Correlator(
      { ttlMs: cfg.correlatorTtlMs, sampleBytes: cfg.httpSampleBytes, maxConnections: cfg.maxConnections, wallOffsetNs: 0n },
      (x) => this.batcher.push(this.enrich(x)),
      () => !this.batcher.full,
    );
  }

  onFatal(cb: (err: Error) => void): void {
    this.fatal = cb;
  }

  counters(): AgentCounters {
    const c = this.correlator.stats;
    return {
      events: this.events,
      matched: c.matched,
      unmatched: c.unmatched,
      drops: this.batcher.drops + c.shed + this.sender.stats.rejected,
      send_failures: this.sender.stats.sendFailures,
      kernel_drops: (this.kernel?.counters.ringbuf_full ?? 0) + (this.kernel?.counters.args_full ?? 0),
      queue_length: this.batcher.length,
      parse_errors: c.orphanResponses,
    };
  }

  /** BPF run time, only when HEIMDALL_PROG_STATS=1 (the kernel does not count it otherwise). */
  private kernelTime(): Record<string, number> | undefined {
    if (!this.cfg.progStats || !this.kernel) return undefined;
    return { bpf_run_ns: this.kernel.progRunNs, bpf_run_cnt: this.kernel.progRunCnt };
  }

  private enrich(x: ExchangeRecord): ExchangeRecord {
    const p = this.procs.get(x.pid, x.process, this.nowMs);
    x.node = this.cfg.nodeName;
    x.process = p.comm;
    x.containerId = p.containerId;
    const pod = this.pods?.get(p.containerId);
    if (pod) {
      x.namespace = pod.namespace;
      x.pod = pod.pod;
      x.container = pod.container;
      x.labels = pod.labels;
    }
    return x;
  }

  async start(): Promise<void> {
    log.info('starting', { agent_id: this.agentId, node: this.cfg.nodeName, server: this.cfg.serverAddr, sample_bytes: this.cfg.httpSampleBytes });
    if (this.cfg.k8sEnrich) {
      try {
        this.pods = new PodCache({ nodeName: this.cfg.nodeName, apiUrl: this.cfg.k8sApiUrl });
        await this.pods.start();
      } catch (err) {
        log.warn('Kubernetes enrichment unavailable; records carry node, process and container id only', { err: errorMessage(err) });
      }
    }
    this.batcher.start();
    const pump = new PumpCapture(
      { binary: this.cfg.pumpPath, captureBytes: this.cfg.captureBytes, excludePids: [process.pid, ...this.cfg.excludePids], progStats: this.cfg.progStats, tls: this.cfg.captureTls, fastAttach: this.cfg.fastAttach },
      {
        // Before the first record: exchanges stamped earlier would carry boot-relative times.
        onHello: (hello) => this.correlator.setWallOffset(hello.realtimeOffsetNs),
        onEvent: (ev) => {
          this.events++;
          if (ev.kind === EV_CLOSE) this.correlator.onClose(ev, ev.endNs);
          else if (ev.kind === EV_EXIT) this.correlator.onExit(ev.tgid, ev.endNs);
          else this.correlator.onData(ev);
        },
        onStats: (s) => {
          this.kernel = s;
          this.correlator.setWallOffset(s.realtimeOffsetNs); // follows wall-clock adjustments
        },
        onExit: (err) => {
          this.captureStatus = err.message;
          log.error(err.message);
          this.fatal?.(err);
        },
      },
    );
    this.pump = pump;
    try {
      await pump.start();
    } catch (err) {
      this.captureStatus = errorMessage(err);
      await this.report().catch(() => undefined); // let the server show why this node has no data
      await this.shutdown();
      throw err instanceof HeimdallError ? err : new HeimdallError('CAPTURE_UNAVAILABLE', errorMessage(err));
    }
    this.captureStatus = 'running';
    log.info('capturing HTTP/1.x and HTTP/2 on all TCP sockets', { capture_bytes: this.cfg.captureBytes, pump_pid: pump.pid });
    const sweep = setInterval(() => {
      this.nowMs = Date.now();
      this.correlator.sweep(monoNowNs());
    }, 250);
    const reportEvery = this.cfg.diagnosticsIntervalMs || 15_000;
    const diag = setInterval(() => {
      // tls_opaque: TLS connections no hooked library decrypted (Go, Java, BoringSSL).
      if (this.cfg.diagnosticsIntervalMs > 0) log.info('diagnostics', { ...this.counters(), connections: this.correlator.size, resyncs: this.correlator.stats.resyncs, tls_opaque: this.kernel?.counters.tls_opaque ?? 0, ...this.kernelTime() });
      this.report().catch((err: unknown) => log.debug('diagnostics report failed', { err: errorMessage(err) }));
    }, reportEvery);
    this.timers.push(sweep, diag);
    for (const t of this.timers) t.unref();
    this.report().catch(() => undefined);
  }

  private report(): Promise<void> {
    const c = this.counters();
    const d: DiagnosticsReport = {
      agentId: this.agentId, node: this.cfg.nodeName, timestampUnixNano: BigInt(Date.now()) * 1_000_000n, startedUnixNano: this.startedNs,
      version: VERSION, events: BigInt(c.events), matched: BigInt(c.matched), unmatched: BigInt(c.unmatched), drops: BigInt(c.drops),
      sendFailures: BigInt(c.send_failures), kernelDrops: BigInt(c.kernel_drops), queueLength: BigInt(c.queue_length),
      parseErrors: BigInt(c.parse_errors), captureStatus: this.captureStatus.slice(0, 1000),
    };
    return this.sender.reportDiagnostics(d);
  }

  /** Drains the kernel ring, flushes open exchanges and the queue (5 s at most). Idempotent. */
  shutdown(): Promise<void> {
    this.stopping ??= (async () => {
      for (const t of this.timers) clearInterval(t);
      await this.pump?.shutdown();
      this.correlator.closeAll(monoNowNs());
      const t = setTimeout(() => this.sender.stopRetrying(), 5000);
      t.unref();
      this.sender.lastBatches();
      await this.batcher.shutdown(5500);
      clearTimeout(t);
      if (this.captureStatus === 'running') this.captureStatus = 'stopped';
      await this.report().catch(() => undefined);
      this.pods?.shutdown();
      this.sender.close();
      log.info('stopped', { ...this.counters() });
    })();
    return this.stopping;
  }
}
