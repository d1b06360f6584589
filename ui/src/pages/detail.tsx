// One exchange: every field, both samples as text and hex, and a curl line to replay it.
import { useState } from 'react';
import { api, type Exchange } from '../api.ts';
import { fmtBytes, fmtDuration, statusClass } from '../format.ts';
import { ErrorBox, Loading } from '../components/states.tsx';
import { useFetch } from '../components/use-fetch.ts';

const SKIP_HEADERS = /^(host|content-length|connection|transfer-encoding|authorization|proxy-authorization|cookie|x-api-key|api-key|x-auth-token|x-csrf-token|x-xsrf-token)$/i;

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A curl command that reproduces the request; credentials were never captured, so none appear. */
export function curlFor(x: Exchange): string {
  const text = x.request_sample;
  const headEnd = text.indexOf('\r\n\r\n');
  const lines = (headEnd >= 0 ? text.slice(0, headEnd) : text).split('\r\n').slice(1);
  const parts = ['curl'];
  if (x.method === 'HEAD') parts.push('-I');
  else if (x.method !== 'GET') parts.push('-X', x.method);
  const url = `${x.tls ? 'https' : 'http'}://${x.host}${x.path}${x.query ? `?${x.query}` : ''}`;
  parts.push(shellQuote(url));
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i <= 0 || (headEnd < 0 && line === lines[lines.length - 1])) continue;
    const name = line.slice(0, i).trim();
    if (SKIP_HEADERS.test(name) || line.includes('REDACTED')) continue;
    parts.push('-H', shellQuote(`${name}: ${line.slice(i + 1).trim()}`));
  }
  if (headEnd >= 0 && text.length > headEnd + 4 && !x.request_truncated) parts.push('--data-raw', shellQuote(text.slice(headEnd + 4)));
  if (x.http_version === '1.0') parts.push('--http1.0');
  // HTTP/2 in clear is only spoken by prior knowledge; over TLS curl asks for it by ALPN.
  if (x.http_version === '2') parts.push(x.tls ? '--http2' : '--http2-prior-knowledge');
  return parts.join(' ');
}

function hexDump(b64: string): string {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const out: string[] = [];
  for (let off = 0; off < bytes.length; off += 16) {
    const row = bytes.subarray(off, off + 16);
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = Array.from(row, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
    out.push(`${off.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return out.join('\n');
}

function Sample({ title, text, b64, truncated, bytes }: { title: string; text: string; b64?: string; truncated: boolean; bytes: number }) {
  const [mode, setMode] = useState<'text' | 'hex'>('text');
  return (
    <div className="sample">
      <div className="sample-head">
        <h3>{title}</h3>
        <span className="muted">{fmtBytes(bytes)} on the wire{truncated ? ', sample truncated' : ''}</span>
        <div className="tabs" role="tablist">
          <button role="tab" aria-selected={mode === 'text'} onClick={() => setMode('text')}>Text</button>
          <button role="tab" aria-selected={mode === 'hex'} onClick={() => setMode('hex')}>Hex</button>
        </div>
      </div>
      <pre data-testid={`${title.toLowerCase()}-sample`}>{mode === 'text' ? text || '(empty)' : b64 ? hexDump(b64) : ''}</pre>
    </div>
  );
}

const GRPC_CODES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];

function grpcStatusText(code: string): string {
  const name = GRPC_CODES[Number(code)];
  return name ? `${code} ${name}` : code;
}

export function Detail({ id }: { id: string }) {
  const { data: x, error, reload } = useFetch((s) => api.log(id, s), [id]);
  const [copied, setCopied] = useState(false);
  if (error) return <ErrorBox error={error} retry={reload} />;
  if (!x) return <Loading what="exchange" />;
  const curl = curlFor(x);
  const fields: [string, string | number][] = [
    ['Time', x.timestamp], ['Duration', x.unmatched ? 'no response' : fmtDuration(x.duration_ms)], ['Role', x.role],
    ['Method', x.method], ['Host', x.host], ['Path', x.path], ['Query (redacted)', x.query || '—'], ['Endpoint', x.endpoint],
    ['HTTP version', x.http_version], ['TLS', x.tls ? 'yes (HTTPS, read in clear)' : 'no'], ['Status', x.unmatched ? 'unmatched' : x.status],
    ['Source', `${x.src_ip}:${x.src_port}`], ['Destination', `${x.dst_ip}:${x.dst_port}`],
    ['Request bytes', fmtBytes(x.request_bytes)], ['Response bytes', fmtBytes(x.response_bytes)],
    ['Node', x.node], ['Process', `${x.process} (pid ${x.pid})`], ['Container', x.container_id ? x.container_id.slice(0, 12) : '—'],
    ['Namespace', x.namespace || '—'], ['Pod', x.pod || '—'], ['Container name', x.container || '—'],
    ['User agent', x.user_agent || '—'], ['traceparent', x.traceparent || '—'], ['ID', x.id],
  ];
  // A gRPC call answers 200 in HTTP terms; its outcome is the grpc-status trailer.
  if (x.grpc_status) fields.splice(fields.findIndex(([k]) => k === 'Status') + 1, 0, ['gRPC status', grpcStatusText(x.grpc_status)]);
  return (
    <section className="detail" data-testid="detail">
      <div className="detail-title">
        <button className="link" onClick={() => window.history.back()}>← Back</button>
        <h2>
          <span className={`status ${statusClass(x.status, x.unmatched)}`}>{x.unmatched ? '—' : x.status}</span> {x.method} {x.host}{x.path}
        </h2>
      </div>
      <dl className="fields">
        {fields.map(([k, v]) => (
          <div key={k}><dt>{k}</dt><dd>{v}</dd></div>
        ))}
        {Object.keys(x.labels).length > 0 && (
          <div className="wide"><dt>Labels</dt><dd>{Object.entries(x.labels).map(([k, v]) => <span className="chip" key={k}>{k}={v}</span>)}</dd></div>
        )}
      </dl>
      <div className="curl">
        <h3>Reproduce</h3>
        <pre data-testid="curl">{curl}</pre>
        <button onClick={() => navigator.clipboard?.writeText(curl).then(() => setCopied(true), () => setCopied(false))}>{copied ? 'Copied' : 'Copy'}</button>
      </div>
      <Sample title="Request" text={x.request_sample} b64={x.request_sample_base64} truncated={x.request_truncated} bytes={x.request_bytes} />
      <Sample title="Response" text={x.response_sample} b64={x.response_sample_base64} truncated={x.response_truncated} bytes={x.response_bytes} />
    </section>
  );
}
