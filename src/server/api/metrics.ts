// Prometheus text exposition for the server itself; no client library needed for a handful of series.
import type { Ingester } from '../ingest/ingester.ts';

export function renderMetrics(ingester: Ingester, httpCounts: Map<string, number>): string {
  const m = ingester.metrics;
  const lines: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', help: string, value: number) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
  };
  metric('heimdall_ingest_batches_total', 'counter', 'Agent batches stored.', m.batches);
  metric('heimdall_ingest_rows_total', 'counter', 'Exchanges stored.', m.rows);
  metric('heimdall_ingest_duplicate_batches_total', 'counter', 'Retried batches acknowledged without storing again.', m.duplicates);
  metric('heimdall_ingest_invalid_batches_total', 'counter', 'Batches rejected as malformed.', m.invalid);
  metric('heimdall_ingest_shed_batches_total', 'counter', 'Batches refused while overloaded.', m.shed);
  metric('heimdall_ingest_insert_failures_total', 'counter', 'Storage inserts that failed.', m.insertFailures);
  metric('heimdall_ingest_inserts_total', 'counter', 'Storage inserts made.', m.inserts);
  metric('heimdall_ingest_insert_seconds_sum', 'counter', 'Time spent in storage inserts.', m.insertSecondsSum);
  metric('heimdall_ingest_rollup_feeds_total', 'counter', 'Inserts feeding stored rows to the per-minute view.', m.feedInserts);
  metric('heimdall_ingest_rollup_dropped_rows_total', 'counter', 'Stored rows the per-minute view missed (storage down too long).', m.feedDropped);
  metric('heimdall_ingest_diagnostics_reports_total', 'counter', 'Agent diagnostics reports received.', m.diagnostics);
  metric('heimdall_ingest_pending_rows', 'gauge', 'Rows accepted and waiting for storage.', ingester.pendingRows);
  const mem = process.memoryUsage();
  metric('process_resident_memory_bytes', 'gauge', 'Resident memory.', mem.rss);
  const cpu = process.cpuUsage();
  metric('process_cpu_seconds_total', 'counter', 'CPU time.', (cpu.user + cpu.system) / 1e6);
  lines.push('# HELP heimdall_http_requests_total HTTP API requests served.', '# TYPE heimdall_http_requests_total counter');
  for (const [key, n] of httpCounts) {
    const [method, route, code] = key.split(' ');
    lines.push(`heimdall_http_requests_total{method="${method}",route="${route.replace(/"/g, '')}",code="${code}"} ${n}`);
  }
  return lines.join('\n') + '\n';
}
