// A throw-away nginx on 127.0.0.1 (Debian's package) with routes for the capture tests.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './temp-dir.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export interface Nginx {
  port: number;
  /** HTTPS port (self-signed certificate) when started with tls: true. */
  tlsPort: number;
  stop(): void;
}

/**
 * proxyTo: a backend ("host:port") that /proxy/ is forwarded to over keep-alive connections.
 * tls: also serve the same routes over HTTPS, with a throw-away self-signed certificate.
 * http2: the HTTPS listener offers HTTP/2 (ALPN "h2"), as most public sites do.
 */
export async function startNginx(opts: { proxyTo?: string; tls?: boolean; http2?: boolean } = {}): Promise<Nginx> {
  const dir = tempDir('heimdall-nginx-');
  const port = await freePort();
  const tlsPort = opts.tls ? await freePort() : 0;
  if (opts.tls) {
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl could not make a test certificate: ${r.stderr}`);
  }
  chmodSync(dir, 0o755); // workers run as www-data and serve files from here
  mkdirSync(join(dir, 'www'), { mode: 0o755 });
  writeFileSync(join(dir, 'www', 'big.bin'), Buffer.alloc(1024 * 1024, 0x61));
  writeFileSync(join(dir, 'www', 'index.html'), '<h1>hello</h1>\n');
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
daemon on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  sendfile on;
  keepalive_requests 100000;
  ${opts.proxyTo ? `upstream backend { server ${opts.proxyTo}; keepalive 4; }` : ''}
  server {
    listen 127.0.0.1:${port};
    ${opts.tls ? `listen 127.0.0.1:${tlsPort} ssl${opts.http2 ? ' http2' : ''}; ssl_certificate ${dir}/cert.pem; ssl_certificate_key ${dir}/key.pem;` : ''}
    root ${dir}/www;
    location = /big.bin { }
    location = /index.html { }
    location /t/ok { return 200 "ok\\n"; }
    location /t/created { return 201 "created\\n"; }
    location /t/missing { return 404 "missing\\n"; }
    location /t/fail { return 500 "fail\\n"; }
    location /t/empty { return 204; }
    location /t/post { client_max_body_size 10m; return 200 "posted\\n"; }
    ${opts.proxyTo ? 'location /proxy/ { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }' : ''}
    location / { return 200 "default\\n"; }
  }
}
`,
  );
  const r = spawnSync('/usr/sbin/nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nginx did not start: ${r.stderr}`);
  return {
    port,
    tlsPort,
    stop: () => {
      spawnSync('/usr/sbin/nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir, '-s', 'stop']);
    },
  };
}
