// The container image and the Docker Compose / Kubernetes manifests (deploy/). Neither a Docker
// engine nor a Kubernetes API server runs here, so these are checked as files: they parse,
// they name each other consistently, and the settings they give each program pass that
// program's own configuration check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { parse, parseAllDocuments } from 'yaml';
import { loadAgentConfig } from '../src/agent/config.ts';
import { loadServerConfig } from '../src/server/config.ts';

const root = new URL('../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

interface K8sObject { kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown }
type EnvVar = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } } };
// Loosely typed views of the manifests' fields this test reads.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

function manifests(file: string): K8sObject[] {
  return parseAllDocuments(read(`deploy/k8s/${file}`)).map((d) => {
    assert.equal(d.errors.length, 0, `${file}: ${d.errors.join('; ')}`);
    return d.toJS() as K8sObject;
  });
}
const k8s = ['clickhouse.yaml', 'server-deployment.yaml', 'agent-rbac.yaml', 'agent-ds.yaml'].flatMap(manifests);
const find = (kind: string, name: string): Any => {
  const o = k8s.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `deploy/k8s has a ${kind} named ${name}`);
  return o;
};

/** A container's env as the program would see it (secrets from the Secret, the node name from the downward API). */
function envOf(container: Any): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env as EnvVar[]) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) env[e.name] = find('Secret', e.valueFrom.secretKeyRef.name).stringData[e.valueFrom.secretKeyRef.key];
    else if (e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName') env[e.name] = 'node-1';
    else assert.fail(`${e.name}: unexpected env source`);
    assert.equal(typeof env[e.name], 'string', `${e.name} resolves`);
  }
  return env;
}

function servicePort(name: string, port: number): void {
  const svc = find('Service', name);
  assert.ok(svc.spec.ports.some((p: Any) => p.port === port), `Service ${name} exposes ${port}`);
}

const SEED_AGENT_DEFAULTS = { AGENT_BATCH_SIZE: '200', AGENT_FLUSH_INTERVAL: '2s', AGENT_MAX_QUEUE: '5000', AGENT_HTTP_SAMPLE_BYTES: '128', AGENT_CORRELATOR_TTL: '30s', AGENT_DIAGNOSTICS_INTERVAL: '15s' };

test('Kubernetes: the agent DaemonSet runs privileged in the host PID namespace and reaches the server', () => {
  const ds = find('DaemonSet', 'heimdall-agent');
  const pod = ds.spec.template.spec;
  assert.equal(pod.hostPID, true, 'the kernel reports host PIDs; /proc must be the host\'s');
  const [c] = pod.containers;
  assert.equal(c.securityContext.privileged, true);
  assert.deepEqual(c.args, ['agent']);
  const mounts = c.volumeMounts.map((m: Any) => m.mountPath).sort();
  assert.deepEqual(mounts, ['/sys/fs/bpf', '/sys/kernel/debug']);
  const env = envOf(c);
  const cfg = loadAgentConfig(env);
  assert.equal(cfg.nodeName, 'node-1');
  assert.equal(cfg.k8sEnrich, true);
  for (const [k, v] of Object.entries(SEED_AGENT_DEFAULTS)) assert.equal(env[k], v, `${k} shows the seed's default`);
  const [host, port] = cfg.serverAddr.split(':');
  servicePort(host, Number(port));
  // Its service account may list and watch pods (the enrichment cache), bound where it runs.
  assert.equal(pod.serviceAccountName, 'heimdall-agent');
  const sa = find('ServiceAccount', 'heimdall-agent');
  const role = find('ClusterRole', 'heimdall-agent');
  assert.ok(role.rules.some((r: Any) => r.resources.includes('pods') && ['get', 'list', 'watch'].every((v) => r.verbs.includes(v))));
  const binding = find('ClusterRoleBinding', 'heimdall-agent');
  assert.equal(binding.roleRef.name, 'heimdall-agent');
  assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'heimdall-agent', namespace: sa.metadata.namespace }]);
  assert.equal(sa.metadata.namespace, 'default', 'the seed binds the agent in the default namespace');
});

test('Kubernetes: the server Deployment stores in the ClickHouse service and probes its own health endpoints', () => {
  const dep = find('Deployment', 'heimdall-server');
  const [c] = dep.spec.template.spec.containers;
  assert.deepEqual(c.args, ['server']);
  const cfg = loadServerConfig(envOf(c));
  const [host, port] = cfg.clickhouseAddr!.split(':');
  servicePort(host, Number(port));
  const ch = find('StatefulSet', 'clickhouse').spec.template.spec.containers[0];
  assert.deepEqual(ch.envFrom, [{ secretRef: { name: 'heimdall-clickhouse' } }], 'ClickHouse and the server read one Secret');
  const ports = Object.fromEntries(c.ports.map((p: Any) => [p.name, p.containerPort]));
  assert.deepEqual(ports, { grpc: cfg.grpcPort, http: cfg.httpPort });
  assert.equal(c.readinessProbe.httpGet.path, '/readyz');
  assert.equal(c.livenessProbe.httpGet.path, '/healthz');
  servicePort('heimdall-server', cfg.grpcPort);
  servicePort('heimdall-server', cfg.httpPort);
});

test('Docker Compose: server, agent and ClickHouse agree, as the seed\'s commands expect', () => {
  const compose = parse(read('deploy/docker-compose.yml')) as Any;
  const { clickhouse, server, agent } = compose.services;
  // The seed's traffic example finds the container as heimdall_server and calls http://server:8080.
  assert.equal(server.container_name, 'heimdall_server');
  const serverCfg = loadServerConfig(server.environment);
  assert.equal(serverCfg.httpPort, 8080);
  assert.ok(server.ports.includes('8080:8080'));
  assert.equal(serverCfg.clickhouseAddr, 'clickhouse:8123');
  for (const k of ['CLICKHOUSE_DB', 'CLICKHOUSE_USER', 'CLICKHOUSE_PASSWORD']) assert.equal(server.environment[k], clickhouse.environment[k], k);
  assert.equal(agent.privileged, true);
  assert.equal(agent.pid, 'host');
  assert.deepEqual(agent.volumes.map((v: string) => v.split(':')[1]).sort(), ['/sys/fs/bpf', '/sys/kernel/debug']);
  // ${NODE_NAME:-docker-host}: what Compose substitutes when NODE_NAME is unset.
  const env = { ...agent.environment, NODE_NAME: String(agent.environment.NODE_NAME).replace(/^\$\{NODE_NAME:-(.*)\}$/, '$1') };
  const agentCfg = loadAgentConfig(env);
  assert.equal(agentCfg.serverAddr, `server:${serverCfg.grpcPort}`);
  assert.equal(agentCfg.nodeName, 'docker-host');
  for (const [k, v] of Object.entries(SEED_AGENT_DEFAULTS)) assert.equal(env[k], v, `${k} shows the seed's default`);
  assert.equal(agent.image, server.image, 'one image for both programs');
});

test('Dockerfile: builds with what the set-up installs and copies only what the build made', () => {
  const docker = read('Dockerfile');
  const setupPkgs = /^pkgs=\(([^)]*)\)/m.exec(read('scripts/setup.sh'))![1].split(/\s+/).filter(Boolean);
  for (const p of setupPkgs.filter((p) => !['curl', 'ca-certificates'].includes(p))) assert.match(docker, new RegExp(`\\b${p}\\b`), `the build stage installs ${p}`);
  const built = new Set(['node_modules', 'build/heimdall-pump', 'ui/dist']);
  for (const [, path] of docker.matchAll(/^COPY --from=build \/app\/(\S+)/gm)) {
    assert.ok(built.has(path) || existsSync(new URL(path, root)), `${path} exists or is built in the image`);
  }
  assert.match(docker, /make -C src\/kernel/);
  assert.match(docker, /ENTRYPOINT \["\/app\/bin\/heimdall"\]/);
  assert.ok(existsSync(new URL('bin/heimdall', root)));
  // The build context leaves out local builds and data, which would shadow the image's own.
  const ignored = read('.dockerignore').split('\n');
  for (const p of ['node_modules', 'build', 'data', '.tools']) assert.ok(ignored.includes(p), `.dockerignore lists ${p}`);
});
