// Runs the native pump (build/heimdall-pump) and turns its stdout frames into events.
// A separate process keeps the ring-buffer poll off Node's event loop and a native fault
// away from the agent; errors arrive as one errno-style line on stderr.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HeimdallError } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import { decodeFrame, FrameSplitter, type DataEvent, type HelloFrame, type StatsFrame } from './decode.ts';
import { EV_CLOSE, EV_DATA, EV_EXIT, EV_HELLO, EV_STATS } from './event-layout.ts';

const log = createLogger('capture');

export const DEFAULT_PUMP = fileURLToPath(new URL('../../../build/heimdall-pump', import.meta.url));

export interface PumpOptions {
  binary?: string;
  captureBytes: number;
  excludePids: number[];
  progStats?: boolean;
  ringBytes?: number;
  /** Read TLS plaintext through uprobes on libssl's SSL_read/SSL_write (default on). */
  tls?: boolean;
  /** Raise /sys/kernel/rcu_expedited while probes are attached (default on). */
  fastAttach?: boolean;
}

export interface PumpHandlers {
  /** The pump is capturing; called before any record is handed over (they may share a read). */
  onHello?(h: HelloFrame): void;
  onEvent(ev: DataEvent): void;
  onStats(s: StatsFrame): void;
  /** The pump died after a successful start. */
  onExit(err: HeimdallError): void;
}

/** Explains why capture cannot start, or null when it probably can. */
export function capturePrerequisiteProblem(binary: string): string | null {
  if (process.platform !== 'linux') return `eBPF capture needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'the agent must run as root (it loads eBPF programs: CAP_BPF, CAP_PERFMON, CAP_SYS_RESOURCE); run it with sudo or as a privileged container';
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'this kernel has no BTF (/sys/kernel/btf/vmlinux is missing); use a kernel built with CONFIG_DEBUG_INFO_BTF=y (any distribution kernel since 5.8 has it)';
  if (!existsSync(binary)) return `the capture helper ${binary} is not built; run "npm run build" (needs clang, libbpf-dev, bpftool)`;
  return null;
}

export class PumpCapture {
  private child: ChildProcess | null = null;
  private readonly opts: PumpOptions;
  private readonly handlers: PumpHandlers;
  private stopping = false;
  private stderrTail = '';
  hello: HelloFrame | null = null;

  constructor(opts: PumpOptions, handlers: PumpHandlers) {
    this.opts = opts;
    this.handlers = handlers;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): Promise<HelloFrame> {
    const binary = this.opts.binary ?? DEFAULT_PUMP;
    const problem = capturePrerequisiteProblem(binary);
    if (problem) return Promise.reject(new HeimdallError('CAPTURE_UNAVAILABLE', problem));
    const args = ['--capture-bytes', String(this.opts.captureBytes)];
    if (this.opts.excludePids.length) args.push('--exclude', this.opts.excludePids.join(','));
    if (this.opts.ringBytes) args.push('--ring-bytes', String(this.opts.ringBytes));
    if (this.opts.progStats) args.push('--prog-stats');
    if (this.opts.tls === false) args.push('--no-tls');
    if (this.opts.fastAttach === false) args.push('--no-fast-attach');
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const splitter = new FrameSplitter();
    return new Promise<HelloFrame>((resolve, reject) => {
      let started = false;
      child.stderr!.setEncoding('utf8');
      let partial = '';
      child.stderr!.on('data', (s: string) => {
        this.stderrTail = (this.stderrTail + s).slice(-4000);
        const lines = (partial + s).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) if (line.startsWith('heimdall-pump: note ')) log.info(line.slice('heimdall-pump: note '.length));
      });
      child.stdout!.on('data', (chunk: Buffer) => {
        splitter.push(chunk, (buf, start, end) => {
          const f = decodeFrame(buf, start, end);
          if (!f) return;
          if (f.kind === EV_DATA || f.kind === EV_CLOSE || f.kind === EV_EXIT) this.handlers.onEvent(f);
          else if (f.kind === EV_STATS) this.handlers.onStats(f);
          else if (f.kind === EV_HELLO) {
            this.hello = f;
            // Synchronously: the records after it in this chunk are decoded before any await resumes.
            this.handlers.onHello?.(f);
            started = true;
            resolve(f);
          }
        });
      });
      child.on('error', (err) => reject(new HeimdallError('CAPTURE_UNAVAILABLE', `cannot run ${binary}: ${err.message}`)));
      child.on('exit', (code, signal) => {
        // Its notes (where TLS is read) are not reasons: only an error line or the signal is.
        const lines = this.stderrTail.split('\n').filter((l) => l.trim() !== '' && !l.includes('heimdall-pump: note'));
        const line = lines.filter((l) => l.includes('heimdall-pump: error')).pop() ?? lines.pop() ?? '';
        const why = line || (signal ? `the pump was killed by ${signal} (out of memory, or stopped by hand); the agent exits so that its supervisor restarts it` : 'no message');
        const err = new HeimdallError('CAPTURE_UNAVAILABLE', `eBPF capture stopped (exit ${code ?? signal}): ${why}`);
        if (!started) reject(err);
        else if (!this.stopping) this.handlers.onExit(err);
      });
    });
  }

  /**
   * Stops the pump once it has drained the ring buffer: its output ends, and it goes on to
   * detach its probes (seconds, on its own). Idempotent.
   */
  async shutdown(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.stopping = true;
    const out = child.stdout!;
    const drained = new Promise<void>((r) => {
      if (out.readableEnded) r();
      out.once('end', () => r());
      child.once('exit', () => r());
    });
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    t.unref();
    await drained;
    clearTimeout(t);
  }
}
