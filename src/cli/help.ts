export const HELP = {
  main: `heimdall - eBPF HTTP observability

Usage:
  heimdall up         server with embedded ClickHouse + a local agent (UI at http://localhost:8080)
  heimdall server     gRPC ingest, ClickHouse storage, HTTP API and UI
  heimdall agent      eBPF capture on this node, shipping to SERVER_ADDR (needs root)
  heimdall --version  print the version

Run "heimdall <command> --help" for its settings.
`,
  up: `heimdall up - the server and a local agent in one command

Starts the server (see "heimdall server --help") and an agent (see "heimdall agent --help")
that ships to it. The UI and API open once the agent captures (at most 30 s), so traffic
made from then on is recorded. If the agent cannot start (not root, no BPF, no BTF), the
server keeps running and the log says what is missing. SERVER_ADDR defaults to the local
server.
`,
  server: `heimdall server - gRPC ingest, ClickHouse storage, HTTP API and UI

Environment (defaults in brackets):
  CLICKHOUSE_ADDR        ClickHouse HTTP interface, host:port (port 8123) or URL
                         [unset: embedded ClickHouse (chDB) under HEIMDALL_DATA_DIR]
  CLICKHOUSE_DB          database, created if missing [default]
  CLICKHOUSE_USER        [default]
  CLICKHOUSE_PASSWORD    [empty]
  PORT                   gRPC ingest port [50051]
  HTTP_PORT              HTTP API + UI port [8080]
  HTTP_SHUTDOWN_TIMEOUT  graceful shutdown limit [5s]
  HEIMDALL_DATA_DIR      embedded database folder [./data]
  HEIMDALL_RETENTION     how long data is kept [168h]
  HEIMDALL_LISTEN_HOST   address both ports listen on [0.0.0.0]
  HEIMDALL_INGEST_COALESCE_ROWS      most rows per storage insert [100000]
  HEIMDALL_INGEST_COALESCE_INTERVAL  wait for more batches when idle; while an insert runs,
                                     batches gather for the next one anyway [20ms]
  HEIMDALL_INGEST_MAX_PENDING_ROWS   rows waiting before load is shed [200000]
  HEIMDALL_CHDB_MAX_MEMORY_MB        embedded ClickHouse memory cap [4096]
`,
  agent: `heimdall agent - eBPF HTTP capture for this node (run as root)

Environment (defaults in brackets):
  SERVER_ADDR                 gRPC address of the server, host:port (required)
  NODE_NAME                   [hostname]
  AGENT_BATCH_SIZE            exchanges per batch [200]
  AGENT_FLUSH_INTERVAL        longest wait before a batch is sent [2s]
  AGENT_MAX_QUEUE             exchanges held while the server is unreachable [5000]
  AGENT_MAX_INFLIGHT_BATCHES  batches sent concurrently [256]
  AGENT_CAPTURE_BYTES         bytes of each payload copied for parsing (>= sample) [2048]
  AGENT_CAPTURE_TLS           read HTTPS in clear (OpenSSL, GnuTLS, node executables) [true]
  AGENT_FAST_ATTACH           raise /sys/kernel/rcu_expedited while probes attach, so a new
                              program's first calls are read [true]
  AGENT_K8S_ENRICH            add pod/namespace/container/labels from the Kubernetes API [false]
  AGENT_K8S_API_URL           Kubernetes API URL [in-cluster: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT]
  AGENT_HTTP_SAMPLE_BYTES     bytes of each request/response kept as a sample, up to 8192 [128]
  AGENT_CORRELATOR_TTL        a request with no response after this is recorded unmatched [30s]
  AGENT_DIAGNOSTICS_INTERVAL  diagnostics log line period, 0 disables [15s]
  HEIMDALL_EXCLUDE_PIDS       extra process ids never captured, comma-separated

Exit status: 2 a bad setting; 3 capture was running and stopped (its pump died): restart
the agent (a DaemonSet or "restart: unless-stopped" does; "heimdall up" does itself); 1 other.
`,
} as const;
