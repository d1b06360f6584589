// HTTP/1.x request/status line + header parsing. Pure, never throws: returns ok, need-more
// (head not complete yet, more bytes may come) or not-http.

export interface HttpHead {
  kind: 'request' | 'response';
  method: string; // requests
  target: string; // requests: as sent
  status: number; // responses
  version: string; // "1.1"
  host: string;
  userAgent: string;
  traceparent: string;
  contentType: string;
  contentLength: number | null;
  chunked: boolean;
  connectionClose: boolean;
  upgrade: boolean;
  /** Bytes through the blank line; the full length only when complete. */
  headLength: number;
  complete: boolean;
}

export type HeadResult = { status: 'ok'; head: HttpHead } | { status: 'need-more' } | { status: 'not-http'; reason: string };

const MAX_HEAD = 64 * 1024;
const METHODS = new Set(['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'SEARCH', 'PURGE', 'REPORT', 'MKCALENDAR']);

/** Cheap test on the first bytes: could this start an HTTP/1 request or status line? */
export function startsHttpMessage(b: Uint8Array): boolean {
  if (b.length < 4) return false;
  if (b[0] === 0x48 && b[1] === 0x54 && b[2] === 0x54 && b[3] === 0x50) return b.length < 5 || b[4] === 0x2f; // HTTP/
  let i = 0;
  while (i < b.length && i < 12 && b[i] >= 0x41 && b[i] <= 0x5a) i++;
  return i >= 3 && (i === b.length || b[i] === 0x20) && (i === b.length || METHODS.has(latin1(b, 0, i)));
}

function latin1(b: Uint8Array, start: number, end: number): string {
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');
}

/** Index just past the blank line ending the head, or -1. Accepts bare LF line ends. */
export function findHeadEnd(b: Uint8Array, from = 0): number {
  const n = Math.min(b.length, MAX_HEAD);
  for (let i = from; i < n; i++) {
    if (b[i] !== 0x0a) continue;
    if (i + 1 < n && b[i + 1] === 0x0a) return i + 2;
    if (i + 2 < n && b[i + 1] === 0x0d && b[i + 2] === 0x0a) return i + 3;
  }
  return -1;
}

/**
 * Parses the head at the start of `b`. `more` says whether more bytes of this head can
 * still arrive; when false (the capture was cut short) a partial head is returned as ok
 * with complete=false.
 */
export function parseHead(b: Uint8Array, more: boolean): HeadResult {
  if (!startsHttpMessage(b)) {
    if (b.length < 8 && more && couldStart(b)) return { status: 'need-more' };
    return { status: 'not-http', reason: 'no request or status line' };
  }
  const end = findHeadEnd(b);
  if (end < 0 && more && b.length < MAX_HEAD) return { status: 'need-more' };
  const text = latin1(b, 0, end < 0 ? Math.min(b.length, MAX_HEAD) : end);
  const lines = text.split(/\r?\n/);
  const first = lines[0];
  const head: HttpHead = {
    kind: 'request', method: '', target: '', status: 0, version: '', host: '', userAgent: '', traceparent: '',
    contentType: '', contentLength: null, chunked: false, connectionClose: false, upgrade: false,
    headLength: end < 0 ? b.length : end, complete: end >= 0,
  };
  let m: RegExpExecArray | null;
  if ((m = /^HTTP\/(\d\.\d) (\d{3})(?: .*)?$/.exec(first))) {
    head.kind = 'response';
    head.version = m[1];
    head.status = Number(m[2]);
  } else if ((m = /^([A-Z]{3,12}) (\S+) HTTP\/(\d\.\d)$/.exec(first))) {
    head.method = m[1];
    head.target = m[2];
    head.version = m[3];
  } else if (!head.complete && lines.length === 1 && (m = /^([A-Z]{3,12}) (\S+)/.exec(first))) {
    // The request line itself was cut by the capture limit: keep what is there.
    head.method = m[1];
    head.target = m[2];
    head.version = '1.1';
  } else {
    return { status: 'not-http', reason: 'malformed start line' };
  }
  if (head.version !== '1.0' && head.version !== '1.1') return { status: 'not-http', reason: `HTTP version ${head.version}` };
  head.connectionClose = head.version === '1.0';
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    switch (name) {
      case 'host': head.host = value.slice(0, 1024); break;
      case 'user-agent': head.userAgent = value.slice(0, 1024); break;
      case 'traceparent': head.traceparent = value.slice(0, 256); break;
      case 'content-type': head.contentType = value.toLowerCase(); break;
      case 'content-length': {
        // The last line of a full head is the only one that can be cut; a cut number is no number.
        if (/^\d{1,15}$/.test(value) && (head.complete || i < lines.length - 1)) head.contentLength = Number(value);
        break;
      }
      case 'transfer-encoding': if (/chunked\s*$/i.test(value)) head.chunked = true; break;
      case 'connection': {
        const v = value.toLowerCase();
        if (v.includes('close')) head.connectionClose = true;
        else if (v.includes('keep-alive')) head.connectionClose = false;
        if (v.includes('upgrade')) head.upgrade = true;
        break;
      }
    }
  }
  return { status: 'ok', head };
}

function couldStart(b: Uint8Array): boolean {
  const s = latin1(b, 0, b.length);
  if ('HTTP/'.startsWith(s.slice(0, 5))) return true;
  const word = s.split(' ')[0];
  for (const m of METHODS) if (m.startsWith(word)) return true;
  return false;
}

/** Splits a request target into host (absolute-form only), path and raw query. */
export function splitTarget(target: string): { host: string; path: string; query: string } {
  let host = '';
  let rest = target;
  const abs = /^https?:\/\/([^/?#]*)(.*)$/i.exec(target);
  if (abs) {
    host = abs[1];
    rest = abs[2] || '/';
  }
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  return q < 0 ? { host, path: rest, query: '' } : { host, path: rest.slice(0, q), query: rest.slice(q + 1) };
}
