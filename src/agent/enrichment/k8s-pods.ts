// Pods on this node, from a list + watch of the Kubernetes API (no API call per record).
// Maps container id → pod, namespace, container name and labels.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createLogger } from '../../shared/log.ts';
import { errorMessage } from '../../shared/errors.ts';

const log = createLogger('k8s');
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface PodMeta {
  namespace: string;
  pod: string;
  container: string;
  labels: Record<string, string>;
}

interface PodObject {
  metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string>; resourceVersion?: string };
  status?: { containerStatuses?: { name: string; containerID?: string }[]; initContainerStatuses?: { name: string; containerID?: string }[]; ephemeralContainerStatuses?: { name: string; containerID?: string }[] };
}

export interface K8sOptions {
  nodeName: string;
  /** Explicit API URL (e.g. kubectl proxy); otherwise the in-cluster service and service-account token. */
  apiUrl?: string;
  tokenFile?: string;
  caFile?: string;
}

export class PodCache {
  private readonly byContainer = new Map<string, PodMeta>();
  private readonly byPodUid = new Map<string, string[]>();
  private readonly opts: K8sOptions;
  private readonly base: URL;
  private readonly agent: http.Agent;
  private token = '';
  private stopped = false;
  private req: http.ClientRequest | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private backoffMs = 500;
  synced = false;

  constructor(opts: K8sOptions) {
    this.opts = opts;
    const host = process.env.KUBERNETES_SERVICE_HOST;
    const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
    const url = opts.apiUrl ?? (host ? `https://${host.includes(':') ? `[${host}]` : host}:${port}` : '');
    if (!url) throw new Error('AGENT_K8S_ENRICH=true but not running in a cluster (KUBERNETES_SERVICE_HOST unset); set AGENT_K8S_API_URL');
    this.base = new URL(url);
    let ca: Buffer | undefined;
    if (this.base.protocol === 'https:') {
      try {
        ca = readFileSync(opts.caFile ?? `${SA_DIR}/ca.crt`);
      } catch {
        ca = undefined;
      }
    }
    this.agent = this.base.protocol === 'https:' ? new https.Agent({ ca, keepAlive: true }) : new http.Agent({ keepAlive: true });
  }

  get(containerId: string): PodMeta | undefined {
    return containerId ? this.byContainer.get(containerId) : undefined;
  }

  get size(): number {
    return this.byContainer.size;
  }

  /** Resolves after the first list (or rejects with why it failed); the watch keeps running. */
  async start(): Promise<void> {
    await this.listAndWatch();
  }

  shutdown(): void {
    this.stopped = true;
    this.req?.destroy();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.agent.destroy();
  }

  private readToken(): void {
    try {
      this.token = readFileSync(this.opts.tokenFile ?? `${SA_DIR}/token`, 'utf8').trim();
    } catch {
      this.token = '';
    }
  }

  private path(watch: boolean, rv?: string): string {
    const q = new URLSearchParams({ fieldSelector: `spec.nodeName=${this.opts.nodeName}` });
    if (watch) {
      q.set('watch', '1');
      q.set('allowWatchBookmarks', 'true');
      if (rv) q.set('resourceVersion', rv);
    }
    return `${this.base.pathname.replace(/\/$/, '')}/api/v1/pods?${q}`;
  }

  private request(path: string): http.ClientRequest {
    this.readToken(); // projected tokens rotate
    const mod = this.base.protocol === 'https:' ? https : http;
    return mod.request({
      protocol: this.base.protocol, hostname: this.base.hostname, port: this.base.port, path, agent: this.agent,
      headers: { accept: 'application/json', ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
    });
  }

  private async listAndWatch(): Promise<void> {
    const list = await new Promise<{ items: PodObject[]; metadata: { resourceVersion: string } }>((resolve, reject) => {
      const req = this.request(this.path(false));
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`listing pods: HTTP ${res.statusCode}: ${body.slice(0, 200)}`));
          try {
            resolve(JSON.parse(body));
          } catch (err) {
            reject(new Error(`listing pods: ${errorMessage(err)}`));
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
    this.byContainer.clear();
    this.byPodUid.clear();
    for (const p of list.items) this.upsert(p);
    this.synced = true;
    this.backoffMs = 500;
    log.info('pod cache synced', { pods: list.items.length, containers: this.byContainer.size });
    this.watch(list.metadata.resourceVersion);
  }

  private watch(rv: string): void {
    if (this.stopped) return;
    const req = this.request(this.path(true, rv));
    this.req = req;
    let lastRv = rv;
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        this.retry(res.statusCode === 410);
        return;
      }
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          try {
            const ev = JSON.parse(line) as { type: string; object: PodObject & { code?: number } };
            if (ev.type === 'ERROR') {
              req.destroy();
              this.retry(ev.object.code === 410);
              return;
            }
            if (ev.object.metadata?.resourceVersion) lastRv = ev.object.metadata.resourceVersion;
            if (ev.type === 'ADDED' || ev.type === 'MODIFIED') this.upsert(ev.object);
            else if (ev.type === 'DELETED') this.remove(ev.object.metadata.uid);
          } catch {
            // a malformed line: skip it, the next event or relist corrects the cache
          }
        }
      });
      res.on('end', () => this.watchAgain(lastRv));
      res.on('error', () => this.retry(false));
    });
    req.on('error', () => this.retry(false));
    req.end();
  }

  private watchAgain(rv: string): void {
    if (!this.stopped) this.watch(rv);
  }

  private retry(relist: boolean): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.listAndWatch().catch((err: unknown) => {
        log.warn('pod list failed; retrying', { err: errorMessage(err), relist });
        this.retry(true);
      });
    }, this.backoffMs);
    this.retryTimer.unref();
    this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
  }

  private upsert(p: PodObject): void {
    this.remove(p.metadata.uid);
    const ids: string[] = [];
    const statuses = [...(p.status?.containerStatuses ?? []), ...(p.status?.initContainerStatuses ?? []), ...(p.status?.ephemeralContainerStatuses ?? [])];
    for (const c of statuses) {
      const id = (c.containerID ?? '').replace(/^[a-z-]+:\/\//, '');
      if (!id) continue;
      this.byContainer.set(id, { namespace: p.metadata.namespace, pod: p.metadata.name, container: c.name, labels: p.metadata.labels ?? {} });
      ids.push(id);
    }
    this.byPodUid.set(p.metadata.uid, ids);
  }

  private remove(uid: string): void {
    for (const id of this.byPodUid.get(uid) ?? []) this.byContainer.delete(id);
    this.byPodUid.delete(uid);
  }
}
