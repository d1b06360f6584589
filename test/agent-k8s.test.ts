// Kubernetes enrichment. The Kubernetes API server cannot run here, so this test uses a
// local HTTP stand-in (a test double) that answers the pod list and watch the agent makes.
// Everything else is real: two HTTP servers run in their own cgroups named like
// containerd's, the agent reads their container ids from /proc and captures real traffic.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetchAll, ROOT_SKIP, startStack, type Stack } from './helpers/stack.ts';
import { waitFor } from './helpers/server.ts';

interface Workload { id: string; cgroup: string; child: ChildProcess; port: number }

let stack: Stack;
let api: http.Server;
const requests: string[] = [];
let watchRes: http.ServerResponse | null = null;
const workloads: Workload[] = [];

const pod = (name: string, uid: string, id: string, labels: Record<string, string>) => ({
  metadata: { name, namespace: 'shop', uid, labels, resourceVersion: '10' },
  status: { containerStatuses: [{ name: 'web', containerID: `containerd://${id}` }] },
});

function cgroupRoot(): string {
  for (const root of ['/sys/fs/cgroup/unified', '/sys/fs/cgroup', '/sys/fs/cgroup/pids']) {
    if (existsSync(`${root}/cgroup.procs`)) return root;
  }
  throw new Error('no writable cgroup hierarchy');
}

async function startWorkload(): Promise<Workload> {
  const id = randomBytes(32).toString('hex');
  const dir = `${cgroupRoot()}/heimdall-e2e/cri-containerd-${id}.scope`;
  mkdirSync(dir, { recursive: true });
  const child = spawn(process.execPath, ['-e', "const s=require('http').createServer((q,r)=>r.end('pod ok')).listen(0,'127.0.0.1',()=>console.log(s.address().port))"], { stdio: ['ignore', 'pipe', 'inherit'] });
  writeFileSync(`${dir}/cgroup.procs`, String(child.pid));
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  const w = { id, cgroup: dir, child, port };
  workloads.push(w);
  return w;
}

const get = (port: number, path: string) =>
  new Promise<void>((resolve, reject) => http.get(`http://127.0.0.1:${port}${path}`, (r) => { r.resume(); r.on('end', resolve); }).on('error', reject));

before(async () => {
  if (ROOT_SKIP) return;
  const first = await startWorkload();
  api = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/api/v1/pods' || url.searchParams.get('fieldSelector') !== 'spec.nodeName=e2e-node') {
      res.writeHead(404).end();
      return;
    }
    if (url.searchParams.get('watch') === '1') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      watchRes = res;
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'PodList', metadata: { resourceVersion: '10' }, items: [pod('web-1', 'uid-1', first.id, { app: 'web', tier: 'front' })] }));
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  stack = await startStack({ AGENT_K8S_ENRICH: 'true', AGENT_K8S_API_URL: `http://127.0.0.1:${(api.address() as AddressInfo).port}` });
});

after(async () => {
  watchRes?.end();
  api?.close();
  api?.closeAllConnections();
  await stack?.stop();
  for (const w of workloads) {
    w.child.kill();
    await new Promise((r) => w.child.once('exit', r));
    try {
      rmdirSync(w.cgroup);
    } catch {
      // the kernel frees it once empty
    }
  }
});

test('records carry pod, namespace, container and labels from a list + watch cache', { skip: ROOT_SKIP, timeout: 90_000 }, async () => {
  await waitFor(async () => watchRes !== null, 10_000, 'the agent to watch pods');
  const [first] = workloads;
  for (let i = 0; i < 5; i++) await get(first.port, `/k8s/listed/${i}`);

  // A pod that appears later arrives through the watch, not through another list.
  const second = await startWorkload();
  watchRes!.write(JSON.stringify({ type: 'ADDED', object: pod('api-2', 'uid-2', second.id, { app: 'api' }) }) + '\n');
  await new Promise((r) => setTimeout(r, 300));
  for (let i = 0; i < 5; i++) await get(second.port, `/k8s/watched/${i}`);

  const items = await waitFor(async () => {
    const xs = (await fetchAll(stack.base, 'path=/k8s/&role=server'));
    return xs.length >= 10 ? xs : null;
  }, 20_000, '10 server-side records');
  const listed = items.filter((i) => i.path.startsWith('/k8s/listed/'));
  const watched = items.filter((i) => i.path.startsWith('/k8s/watched/'));
  assert.equal(listed.length, 5);
  assert.equal(watched.length, 5);
  const detail = (await (await fetch(`${stack.base}/api/logs/${listed[0].id}`)).json()) as Record<string, unknown>;
  assert.equal(detail.namespace, 'shop');
  assert.equal(detail.pod, 'web-1');
  assert.equal(detail.container, 'web');
  assert.equal(detail.container_id, first.id);
  assert.deepEqual(detail.labels, { app: 'web', tier: 'front' });
  const w = (await (await fetch(`${stack.base}/api/logs/${watched[0].id}`)).json()) as Record<string, unknown>;
  assert.equal(w.pod, 'api-2');
  assert.deepEqual(w.labels, { app: 'api' });
  // Filters by pod and namespace work on enriched records.
  assert.equal((await fetchAll(stack.base, 'namespace=shop&pod=web-1&role=server')).length, 5);
  // One list and one watch: no API call per record.
  assert.equal(requests.filter((u) => !u.includes('watch=1')).length, 1);
  assert.equal(requests.filter((u) => u.includes('watch=1')).length, 1);
});
