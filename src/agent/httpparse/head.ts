// HTTP/1.x request/status line + header parsing on bytes. Pure, never throws: returns ok,
// need-more (head not complete yet, more bytes may come) or not-http. Runs once per
// captured message, so it scans bytes and decodes only the headers it needs.
import { Buffer } from 'node:buffer';
import { u32le } from '../../shared/bytes/byte-buffer.ts';
import { SENSITIVE_HEADER_SUFFIXES } from './redact.ts';

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
  /** Upgrade: h2c (a request asking to go on in HTTP/2 cleartext, or the 101 agreeing). */
  h2c: boolean;
  /** Sent by Heimdall's own UI (X-Heimdall-UI): the agent does not record its polling. */
  heimdallUi: boolean;
  /** A credential header was present: samples must be redacted. */
  sensitive: boolean;
  /** gRPC's grpc-status (HTTP/2 responses: in the trailers, or the headers of a trailers-only answer); '' otherwise. */
  grpcStatus: string;
  /** Bytes through the blank line; the full length only when complete. */
  headLength: number;
  complete: boolean;
}

export type HeadResult = { status: 'ok'; head: HttpHead } | { status: 'need-more' } | { status: 'not-http'; reason: string };

const MAX_HEAD = 64 * 1024;
/**
 * RFC 9110's methods, WebDAV's and CalDAV's, QUERY (the safe method with a body), cache purges,
 * and the rest of the IANA registry and of Node's parser that are one word of capitals (UPnP's
 * NOTIFY and SUBSCRIBE, Icecast's SOURCE). A method outside it is taken for another protocol:
 * each one also needs its first four bytes in the probe's looks_http().
 */
export const METHODS: ReadonlySet<string> = new Set([
  'GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE', 'QUERY',
  'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'SEARCH', 'PURGE', 'REPORT', 'MKCALENDAR',
  'ACL', 'BIND', 'REBIND', 'UNBIND', 'LINK', 'UNLINK', 'CHECKIN', 'CHECKOUT', 'UNCHECKOUT', 'LABEL', 'MERGE', 'MKACTIVITY',
  'MKWORKSPACE', 'ORDERPATCH', 'UPDATE', 'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE', 'SOURCE',
]);
const SENSITIVE = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'api-key', 'x-auth-token', 'x-csrf-token', 'x-xsrf-token']);
const WANTED = ['host', 'user-agent', 'traceparent', 'content-type', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'x-heimdall-ui', ...SENSITIVE];
/** Header names we look at, by length, as bytes: other lines are skipped without making strings. */
interface WantedHeader { name: string; bytes: Buffer; sensitive: boolean }
const BY_LENGTH: (WantedHeader[] | undefined)[] = [];
for (const name of WANTED) (BY_LENGTH[name.length] ??= []).push({ name, bytes: Buffer.from(name, 'latin1'), sensitive: SENSITIVE.has(name) });

/** The header at b[pos..pos+len) when it is one we want, else null. */
function wantedHeader(b: Uint8Array, pos: number, len: number): WantedHeader | null {
  const candidates = len < BY_LENGTH.length ? BY_LENGTH[len] : undefined;
  if (!candidates) return null;
  outer: for (const c of candidates) {
    for (let i = 0; i < len; i++) {
      const x = b[pos + i];
      if ((x >= 0x41 && x <= 0x5a ? x | 0x20 : x) !== c.bytes[i]) continue outer;
    }
    return c;
  }
  return null;
}
const isBlank = (c: number) => c === 0x20 || c === 0x09;

/** SENSITIVE_HEADER_SUFFIXES as bytes, grouped by their last byte: most names end otherwise. */
const SUFFIXES_BY_LAST: (Buffer[] | undefined)[] = [];
for (const sfx of SENSITIVE_HEADER_SUFFIXES) (SUFFIXES_BY_LAST[sfx.charCodeAt(sfx.length - 1)] ??= []).push(Buffer.from(sfx, 'latin1'));

/** Does the header name b[s..e) end like a credential's (case-insensitive)? */
function sensitiveSuffix(b: Uint8Array, s: number, e: number): boolean {
  while (e > s && isBlank(b[e - 1])) e--;
  const last = b[e - 1];
  const list = SUFFIXES_BY_LAST[last >= 0x41 && last <= 0x5a ? last | 0x20 : last];
  if (!list) return false;
  outer: for (const sfx of list) {
    const n = sfx.length;
    if (e - s < n) continue;
    for (let i = 0; i < n; i++) {
      const x = b[e - n + i];
      if ((x >= 0x41 && x <= 0x5a ? x | 0x20 : x) !== sfx[i]) continue outer;
    }
    return true;
  }
  return false;
}
const NOT_HTTP_LINE: HeadResult = { status: 'not-http', reason: 'malformed start line' };

function latin1(b: Uint8Array, start: number, end: number): string {
  // Buffers (what the capture hands over) decode in place; plain arrays need a view first.
  return b instanceof Buffer ? b.toString('latin1', start, end) : Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');
}

const NON_ASCII = /[\u0080-\u00ff]/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Header and target text as the client meant it: raw non-ASCII in queries, user agents and
 * hosts is UTF-8 in practice ("naïve", not "naÃ¯ve"); bytes that are not valid UTF-8 keep one
 * character per byte, so nothing is lost or replaced.
 */
function fieldText(b: Uint8Array, start: number, end: number): string {
  const s = latin1(b, start, end);
  return NON_ASCII.test(s) ? utf8OrAsIs(s, b.subarray(start, end)) : s;
}

/** The same rule for text already decoded one character per byte (HPACK's strings). */
export function headerText(latin1Text: string): string {
  return NON_ASCII.test(latin1Text) ? utf8OrAsIs(latin1Text, Buffer.from(latin1Text, 'latin1')) : latin1Text;
}

function utf8OrAsIs(s: string, bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return s;
  }
}

/*
 * Hosts, user agents, content types, targets and methods repeat from message to message.
 * A small direct-mapped cache of recent values hands out the same string for the same bytes:
 * comparing bytes in JS costs less than making a string (a call into C++) and the garbage it
 * leaves. Results are identical with or without it.
 */
const INTERN_SLOTS = 1024;
const INTERN_MAX_LEN = 256;
const interned: (string | undefined)[] = new Array<string | undefined>(INTERN_SLOTS);
const internedLower: (string | undefined)[] = new Array<string | undefined>(INTERN_SLOTS);

// The last value per field (target, method, host, user agent, content type): most messages
// repeat their predecessor's, and one comparison is cheaper than hashing and then comparing.
const F_TARGET = 0, F_METHOD = 1, F_HOST = 2, F_UA = 3, F_CTYPE = 4;
// The raw bytes are kept beside the string: comparing bytes with bytes runs faster than
// with a string's characters.
const lastValue: string[] = ['', '', '', '', ''];
const lastRaw: Uint8Array[] = Array.from({ length: 5 }, () => new Uint8Array(INTERN_MAX_LEN));
const lastRawLen = [-1, -1, -1, -1, -1];

function internedText(b: Uint8Array, start: number, end: number, lower: boolean, field: number): string {
  const n = end - start;
  if (n <= 0) return '';
  if (lastRawLen[field] === n) {
    const raw = lastRaw[field];
    let i = 0;
    while (i < n && b[start + i] === raw[i]) i++;
    if (i === n) return lastValue[field];
  }
  const s = internedSlot(b, start, end, lower);
  lastValue[field] = s;
  if (n <= INTERN_MAX_LEN) {
    lastRaw[field].set(b.subarray(start, end));
    lastRawLen[field] = n;
  } else lastRawLen[field] = -1;
  return s;
}

function internedSlot(b: Uint8Array, start: number, end: number, lower: boolean): string {
  const n = end - start;
  if (n > INTERN_MAX_LEN) return lower ? fieldText(b, start, end).toLowerCase() : fieldText(b, start, end);
  let h = n;
  for (let i = start; i < end; i++) h = (Math.imul(h, 31) + b[i]) | 0;
  const slot = ((h ^ (h >>> 15)) >>> 0) % INTERN_SLOTS;
  const table = lower ? internedLower : interned;
  const hit = table[slot];
  // For the lower-case table the key is the raw bytes folded to lower case (ASCII).
  if (hit !== undefined && hit.length === n && sameText(b, start, hit, lower)) return hit;
  const s = lower ? fieldText(b, start, end).toLowerCase() : fieldText(b, start, end);
  // Only text with one character per byte is kept: sameText compares bytes with characters.
  if (s.length === n) table[slot] = s;
  return s;
}

function sameText(b: Uint8Array, start: number, s: string, lower: boolean): boolean {
  for (let i = 0; i < s.length; i++) {
    let c = b[start + i];
    if (lower && c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== s.charCodeAt(i)) return false;
  }
  return true;
}

/** Case-insensitive: does b[vs..ve) contain the lower-case ASCII token? */
function containsToken(b: Uint8Array, vs: number, ve: number, token: string): boolean {
  const n = token.length;
  outer: for (let i = vs; i + n <= ve; i++) {
    for (let j = 0; j < n; j++) {
      const c = b[i + j];
      if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== token.charCodeAt(j)) continue outer;
    }
    return true;
  }
  return false;
}

/** "chunked" as the last coding of a Transfer-Encoding value (trailing blanks allowed). */
function endsWithChunked(b: Uint8Array, vs: number, ve: number): boolean {
  while (ve > vs && (b[ve - 1] === 0x20 || (b[ve - 1] >= 0x09 && b[ve - 1] <= 0x0d) || b[ve - 1] === 0xa0)) ve--;
  return ve - vs >= 7 && containsToken(b, ve - 7, ve, 'chunked');
}

/** First four bytes of every method we accept, as little-endian words: no string per check. */
const METHOD_PREFIXES = new Set([...METHODS].map((m) => u32le(Buffer.from(m.padEnd(4, ' ').slice(0, 4), 'latin1'), 0)));

function isUpper(c: number): boolean {
  return c >= 0x41 && c <= 0x5a;
}

/** Cheap test on the first bytes (from `at`): could this start an HTTP/1 request or status line? */
export function startsHttpMessage(b: Uint8Array, at = 0): boolean {
  const n = b.length - at;
  if (n < 4) return false;
  if (b[at] === 0x48 && b[at + 1] === 0x54 && b[at + 2] === 0x54 && b[at + 3] === 0x50) return n < 5 || b[at + 4] === 0x2f; // HTTP/
  let i = 0;
  while (i < n && i < 12 && isUpper(b[at + i])) i++;
  if (i < 3 || (i < n && b[at + i] !== 0x20) || !METHOD_PREFIXES.has(u32le(b, at))) return false;
  return i <= 4 || i === n || METHODS.has(latin1(b, at, at + i));
}

function version(b: Uint8Array, at: number): string | null {
  // "HTTP/1.0" or "HTTP/1.1" at b[at..at+8)
  if (b[at] !== 0x48 || b[at + 1] !== 0x54 || b[at + 2] !== 0x54 || b[at + 3] !== 0x50 || b[at + 4] !== 0x2f || b[at + 6] !== 0x2e) return null;
  const major = b[at + 5] - 0x30;
  const minor = b[at + 7] - 0x30;
  if (major < 0 || major > 9 || minor < 0 || minor > 9) return null;
  return VERSIONS[major * 10 + minor];
}

const VERSIONS = Array.from({ length: 100 }, (_, i) => `${Math.floor(i / 10)}.${i % 10}`);

/**
 * Parses the head at the start of `b`. `more` says whether more bytes of this head can
 * still arrive; when false (the capture was cut short) a partial head is returned as ok
 * with complete=false. startChecked: the caller knows startsHttpMessage(b) is true.
 */
export function parseHead(b: Uint8Array, more: boolean, startChecked = false): HeadResult {
  if (!startChecked && !startsHttpMessage(b)) {
    if (b.length < 8 && more && couldStart(b)) return { status: 'need-more' };
    return { status: 'not-http', reason: 'no request or status line' };
  }
  // One pass: the start line, then header lines up to the blank line ending the head.
  const limit = Math.min(b.length, MAX_HEAD);
  const canGrow = more && b.length < MAX_HEAD;
  let eol = 0;
  while (eol < limit && b[eol] !== 0x0a) eol++;
  if (eol === limit && canGrow) return { status: 'need-more' };
  const lineEnd = eol > 0 && b[eol - 1] === 0x0d ? eol - 1 : eol;
  const lineCut = eol === limit;
  const head: HttpHead = {
    kind: 'request', method: '', target: '', status: 0, version: '', host: '', userAgent: '', traceparent: '',
    contentType: '', contentLength: null, chunked: false, connectionClose: false, upgrade: false, h2c: false, heimdallUi: false, sensitive: false, grpcStatus: '',
    headLength: b.length, complete: false,
  };
  if (b[0] === 0x48 && b[4] === 0x2f) {
    const v = version(b, 0);
    if (v === null || b[8] !== 0x20 || lineEnd < 12) return NOT_HTTP_LINE;
    let status = 0;
    for (let i = 9; i < 12; i++) {
      const d = b[i] - 0x30;
      if (d < 0 || d > 9) return NOT_HTTP_LINE;
      status = status * 10 + d;
    }
    if (lineEnd > 12 && b[12] !== 0x20) return NOT_HTTP_LINE;
    head.kind = 'response';
    head.version = v;
    head.status = status;
  } else {
    let sp1 = 0;
    while (sp1 < lineEnd && isUpper(b[sp1])) sp1++;
    if (sp1 < 3 || sp1 > 12 || b[sp1] !== 0x20) return NOT_HTTP_LINE;
    let sp2 = sp1 + 1;
    while (sp2 < lineEnd && b[sp2] !== 0x20) sp2++;
    if (sp2 < lineEnd) {
      if (sp2 === sp1 + 1 || lineEnd !== sp2 + 9) return NOT_HTTP_LINE;
      const v = version(b, sp2 + 1);
      if (v === null) return NOT_HTTP_LINE;
      head.version = v;
      head.target = internedText(b, sp1 + 1, sp2, false, F_TARGET);
    } else if (lineCut && lineEnd > sp1 + 1) {
      // The request line itself was cut by the capture limit: keep what is there.
      head.version = '1.1';
      head.target = internedText(b, sp1 + 1, lineEnd, false, F_TARGET);
    } else return NOT_HTTP_LINE;
    head.method = internedText(b, 0, sp1, false, F_METHOD);
  }
  if (head.version !== '1.0' && head.version !== '1.1') return { status: 'not-http', reason: `HTTP version ${head.version}` };
  head.connectionClose = head.version === '1.0';
  let pos = eol + 1;
  while (pos < limit) {
    // The name (up to the colon) is scanned once, then the value alone for the line end.
    let colon = pos;
    let c = 0;
    while (colon < limit && (c = b[colon]) !== 0x3a && c !== 0x0a) colon++;
    let nl = colon;
    if (c === 0x3a) {
      while (nl < limit && b[nl] !== 0x0a) nl++;
    } else colon = -1;
    const cut = nl >= limit;
    if (cut && canGrow) return { status: 'need-more' };
    const le = nl > pos && b[nl - 1] === 0x0d ? nl - 1 : nl;
    if (le === pos && !cut) {
      head.headLength = nl + 1;
      head.complete = true;
      break;
    }
    if (colon > pos && colon < le) {
      const wanted = wantedHeader(b, pos, colon - pos);
      // "Cookie : x" (blanks around the name, which RFC 9112 forbids) is still a credential:
      // samples are redacted by the same rule as heads with blanks (redactHeadText trims).
      if (wanted === null && !head.sensitive && (((isBlank(b[pos]) || isBlank(b[colon - 1])) && sensitiveTrimmed(b, pos, colon)) || sensitiveSuffix(b, pos, colon))) head.sensitive = true;
      if (wanted !== null) {
        let vs = colon + 1;
        while (vs < le && isBlank(b[vs])) vs++;
        let ve = le;
        while (ve > vs && isBlank(b[ve - 1])) ve--;
        if (wanted.sensitive) head.sensitive = true;
        else header(head, wanted.name, b, vs, ve, cut);
      }
    }
    pos = nl + 1;
  }
  if (!head.complete && canGrow) return { status: 'need-more' };
  return { status: 'ok', head };
}

function header(head: HttpHead, name: string, b: Uint8Array, vs: number, ve: number, cut: boolean): void {
  switch (name) {
    case 'host': head.host = internedText(b, vs, Math.min(ve, vs + 1024), false, F_HOST); break;
    case 'user-agent': head.userAgent = internedText(b, vs, Math.min(ve, vs + 1024), false, F_UA); break;
    case 'traceparent': head.traceparent = latin1(b, vs, Math.min(ve, vs + 256)); break; // unique per request
    case 'content-type': head.contentType = internedText(b, vs, Math.min(ve, vs + 256), true, F_CTYPE); break;
    case 'content-length': {
      // A number cut by the capture limit is no number.
      if (cut || ve === vs || ve - vs > 15) break;
      let n = 0;
      for (let i = vs; i < ve; i++) {
        const d = b[i] - 0x30;
        if (d < 0 || d > 9) return;
        n = n * 10 + d;
      }
      head.contentLength = n;
      break;
    }
    case 'transfer-encoding': if (endsWithChunked(b, vs, ve)) head.chunked = true; break;
    case 'x-heimdall-ui': head.heimdallUi = true; break;
    case 'upgrade': if (containsToken(b, vs, ve, 'h2c')) head.h2c = true; break;
    case 'connection': {
      // The usual values whole, before the token scans.
      if (ve - vs === 10 && sameText(b, vs, 'keep-alive', true)) {
        head.connectionClose = false;
        break;
      }
      if (ve - vs === 5 && sameText(b, vs, 'close', true)) {
        head.connectionClose = true;
        break;
      }
      if (containsToken(b, vs, ve, 'close')) head.connectionClose = true;
      else if (containsToken(b, vs, ve, 'keep-alive')) head.connectionClose = false;
      if (containsToken(b, vs, ve, 'upgrade')) head.upgrade = true;
      break;
    }
  }
}

function sensitiveTrimmed(b: Uint8Array, s: number, e: number): boolean {
  while (s < e && isBlank(b[s])) s++;
  while (e > s && isBlank(b[e - 1])) e--;
  return wantedHeader(b, s, e - s)?.sensitive === true;
}

function couldStart(b: Uint8Array): boolean {
  const s = latin1(b, 0, b.length);
  if ('HTTP/'.startsWith(s.slice(0, 5))) return true;
  const word = s.split(' ')[0];
  for (const m of METHODS) if (m.startsWith(word)) return true;
  return false;
}

/**
 * Splits a request target into host (absolute-form only, without any user:password@), path and
 * raw query; userinfo says whether credentials were in it (the sample then needs redacting).
 */
export function splitTarget(target: string): { host: string; path: string; query: string; userinfo: boolean } {
  let host = '';
  let rest = target;
  let userinfo = false;
  if (target.charCodeAt(0) !== 47 /* / */) {
    const abs = /^https?:\/\/([^/?#]*)(.*)$/i.exec(target);
    if (abs) {
      const at = abs[1].lastIndexOf('@');
      userinfo = at >= 0;
      host = abs[1].slice(at + 1);
      rest = abs[2] || '/';
    }
  }
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  return q < 0 ? { host, path: rest, query: '', userinfo } : { host, path: rest.slice(0, q), query: rest.slice(q + 1), userinfo };
}
