// Agent configuration: parsed once from the environment, validated, units in the names.
import { hostname } from 'node:os';
import { HeimdallError } from '../shared/errors.ts';
import { type Env, envBool, envDurationMs, envInt, envString } from '../shared/config/env.ts';
import { MAX_SAMPLE_BYTES } from '../shared/telemetry/exchange.ts';

export interface AgentConfig {
  serverAddr: string;
  nodeName: string;
  batchSize: number;
  flushIntervalMs: number;
  maxQueue: number;
  maxInFlight: number;
  k8sEnrich: boolean;
  k8sApiUrl: string | undefined;
  httpSampleBytes: number;
  /** Bytes of each payload the kernel copies for parsing (at least the sample size). */
  captureBytes: number;
  correlatorTtlMs: number;
  diagnosticsIntervalMs: number;
  excludePids: number[];
  maxConnections: number;
  pumpPath: string | undefined;
  /** Measure BPF program run time (bpf_enable_stats); costs a little, for benchmarks. */
  progStats: boolean;
  /** TLS plaintext through uprobes on libssl's SSL_read/SSL_write. */
  captureTls: boolean;
  /** Expedited RCU grace periods while uprobes are attached (src/native/rcu_fast.c). */
  fastAttach: boolean;
}

export function loadAgentConfig(env: Env = process.env): AgentConfig {
  const serverAddr = env.SERVER_ADDR?.trim();
  if (!serverAddr) throw new HeimdallError('CONFIG_INVALID', 'SERVER_ADDR is required: the gRPC address of the Heimdall server, e.g. SERVER_ADDR=127.0.0.1:50051');
  if (!/^(dns:\/\/\/)?([\w.-]+|\[[0-9a-fA-F:]+\]):\d{1,5}$/.test(serverAddr))
    throw new HeimdallError('CONFIG_INVALID', `SERVER_ADDR=${JSON.stringify(serverAddr)} is invalid: expected host:port, e.g. 127.0.0.1:50051`);
  const batchSize = envInt(env, 'AGENT_BATCH_SIZE', 200, 1, 50_000);
  const maxQueue = envInt(env, 'AGENT_MAX_QUEUE', 5000, 1, 10_000_000);
  if (maxQueue < batchSize) throw new HeimdallError('CONFIG_INVALID', `AGENT_MAX_QUEUE=${maxQueue} is invalid: expected at least AGENT_BATCH_SIZE (${batchSize})`);
  const sample = envInt(env, 'AGENT_HTTP_SAMPLE_BYTES', 128, 0, MAX_SAMPLE_BYTES);
  const pids = envString(env, 'HEIMDALL_EXCLUDE_PIDS', '');
  if (pids && !/^\d+(,\d+)*$/.test(pids)) throw new HeimdallError('CONFIG_INVALID', `HEIMDALL_EXCLUDE_PIDS=${JSON.stringify(pids)} is invalid: expected comma-separated process ids`);
  return {
    serverAddr,
    nodeName: envString(env, 'NODE_NAME', hostname()),
    batchSize,
    flushIntervalMs: envDurationMs(env, 'AGENT_FLUSH_INTERVAL', '2s', { min: 10 }),
    maxQueue,
    maxInFlight: envInt(env, 'AGENT_MAX_INFLIGHT_BATCHES', 256, 1, 256),
    k8sEnrich: envBool(env, 'AGENT_K8S_ENRICH', false),
    k8sApiUrl: env.AGENT_K8S_API_URL || undefined,
    httpSampleBytes: sample,
    captureBytes: Math.max(sample, envInt(env, 'AGENT_CAPTURE_BYTES', 2048, 64, MAX_SAMPLE_BYTES)),
    correlatorTtlMs: envDurationMs(env, 'AGENT_CORRELATOR_TTL', '30s', { min: 100 }),
    diagnosticsIntervalMs: envDurationMs(env, 'AGENT_DIAGNOSTICS_INTERVAL', '15s', { allowZero: true, min: 100 }),
    excludePids: pids ? pids.split(',').map(Number) : [],
    maxConnections: envInt(env, 'AGENT_MAX_CONNECTIONS', 16384, 16, 1_000_000),
    pumpPath: env.HEIMDALL_PUMP_PATH || undefined,
    progStats: envBool(env, 'HEIMDALL_PROG_STATS', false),
    captureTls: envBool(env, 'AGENT_CAPTURE_TLS', true),
    fastAttach: envBool(env, 'AGENT_FAST_ATTACH', true),
  };
}
