// A forward proxy as small as they come, in its own process (so that its sockets are another
// process's, as a real proxy's are): it answers CONNECT and relays the tunnel's bytes as they come.
import { spawn } from 'node:child_process';

const PROXY = `
const http = require('node:http'); const net = require('node:net');
const p = http.createServer((req, res) => res.writeHead(405).end());
p.on('connect', (req, sock, head) => {
  const [host, port] = req.url.split(':');
  const up = net.connect(Number(port), host, () => { sock.write('HTTP/1.1 200 Connection Established\\r\\n\\r\\n'); up.write(head); up.pipe(sock); sock.pipe(up); });
  up.on('error', () => sock.destroy()); sock.on('error', () => up.destroy());
});
p.listen(0, '127.0.0.1', () => console.log(p.address().port));`;

export interface ConnectProxy {
  port: number;
  stop(): void;
}

export async function startConnectProxy(): Promise<ConnectProxy> {
  const child = spawn(process.execPath, ['-e', PROXY], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = Number(await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(d.toString()));
    child.once('exit', (code) => reject(new Error(`the CONNECT proxy exited (${code}) before listening`)));
  }));
  return { port, stop: () => child.kill() };
}
