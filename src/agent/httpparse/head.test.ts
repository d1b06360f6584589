import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { METHODS, parseHead, splitTarget, startsHttpMessage } from './head.ts';

const b = (s: string) => Buffer.from(s, 'latin1');

test('parses a request head with the headers that matter', () => {
  const r = parseHead(b('GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8\r\ntraceparent: 00-abc-def-01\r\nContent-Length: 5\r\n\r\nhello'), true);
  assert.equal(r.status, 'ok');
  if (r.status !== 'ok') return;
  assert.equal(r.head.kind, 'request');
  assert.equal(r.head.method, 'GET');
  assert.equal(r.head.target, '/a/b?x=1');
  assert.equal(r.head.host, 'example.com');
  assert.equal(r.head.userAgent, 'curl/8');
  assert.equal(r.head.traceparent, '00-abc-def-01');
  assert.equal(r.head.contentLength, 5);
  assert.equal(r.head.complete, true);
  assert.equal(r.head.headLength, 111);
  assert.equal(r.head.heimdallUi, false);
  const ui = parseHead(b('GET /api/logs HTTP/1.1\r\nHost: h\r\nX-Heimdall-UI: 1\r\n\r\n'), true);
  assert.ok(ui.status === 'ok' && ui.head.heimdallUi, "Heimdall's UI marks its requests");
});

test('parses status lines, chunked and connection close', () => {
  const r = parseHead(b('HTTP/1.1 404 Not Found\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n'), true);
  assert.equal(r.status, 'ok');
  if (r.status !== 'ok') return;
  assert.equal(r.head.status, 404);
  assert.equal(r.head.chunked, true);
  assert.equal(r.head.connectionClose, true);
  const r10 = parseHead(b('HTTP/1.0 200 OK\r\n\r\n'), true);
  assert.ok(r10.status === 'ok' && r10.head.connectionClose);
  // Whole values (any case) and token lists decide alike; HTTP/1.0 keeps the connection only when asked.
  for (const [v, value, close] of [['1.0', 'Keep-Alive', false], ['1.0', 'keep-alive, x', false], ['1.1', 'CLOSE', true], ['1.1', 'x, close', true], ['1.1', 'Keep-Alive', false], ['1.0', 'closed', true]] as const) {
    const r = parseHead(b(`HTTP/${v} 200 OK\r\nConnection: ${value}\r\n\r\n`), true);
    assert.ok(r.status === 'ok' && r.head.connectionClose === close, `${v} ${value}`);
  }
  const noReason = parseHead(b('HTTP/1.1 204\r\n\r\n'), true);
  assert.ok(noReason.status === 'ok' && noReason.head.status === 204);
});

test('need-more while the head is incomplete and more can come; partial when cut', () => {
  assert.deepEqual(parseHead(b('GET / HTTP/1.1\r\nHost: a'), true), { status: 'need-more' });
  assert.deepEqual(parseHead(b('GE'), true), { status: 'need-more' });
  const cut = parseHead(b('GET /x HTTP/1.1\r\nHost: a\r\nContent-Len'), false);
  assert.ok(cut.status === 'ok' && !cut.head.complete && cut.head.host === 'a' && cut.head.contentLength === null);
  const cutLine = parseHead(b('GET /very/long/pa'), false);
  assert.ok(cutLine.status === 'ok' && cutLine.head.target === '/very/long/pa');
});

test('not-http for other protocols', () => {
  for (const s of ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', '\x16\x03\x01\x02\x00', 'SSH-2.0-OpenSSH', '*1\r\n$4\r\nPING\r\n', 'GET / HTTP/2.0\r\n\r\n', 'HTTP/1.1 abc\r\n\r\n']) {
    assert.equal(parseHead(b(s), true).status, 'not-http', JSON.stringify(s));
  }
  assert.equal(startsHttpMessage(b('HEAD / HTTP/1.1')), true);
  assert.equal(startsHttpMessage(b('HELLO world')), false);
  // From an offset: the same answers as on the slice.
  for (const s of ['xxHEAD / HTTP/1.1', 'xxHELLO world', 'xxHTTP/1.1 200', 'xxDELETE /a', 'xxGET', 'xxPROPFIND /']) {
    assert.equal(startsHttpMessage(b(s), 2), startsHttpMessage(b(s.slice(2))), s);
  }
});

test('bare LF line ends are accepted', () => {
  const r = parseHead(b('GET / HTTP/1.1\nHost: a\n\nbody'), true);
  assert.ok(r.status === 'ok' && r.head.host === 'a' && r.head.complete);
  assert.equal(r.head.headLength, 24);
});

test('status lines as servers write them: no reason phrase, a trailing space (Tomcat), bare LF', () => {
  for (const [raw, status] of [
    ['HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok', 200],
    ['HTTP/1.1 302 \r\nLocation: /x\r\nContent-Length: 0\r\n\r\n', 302],
    ['HTTP/1.1 201 Created\nContent-Length: 3\n\nabc', 201],
    ['HTTP/1.0 200\n\n', 200],
  ] as const) {
    const r = parseHead(b(raw), true);
    assert.ok(r.status === 'ok' && r.head.complete, raw);
    assert.equal(r.head.status, status, raw);
  }
  assert.equal(parseHead(b('HTTP/1.1 20\r\n\r\n'), false).status, 'not-http');
});

test('QUERY and the registry\'s one-word methods are requests; a word that is no method is not', () => {
  for (const m of ['QUERY', 'ACL', 'BIND', 'LINK', 'UNLINK', 'MKWORKSPACE', 'SUBSCRIBE', 'SOURCE', 'UPDATE']) {
    const r = parseHead(b(`${m} /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}`), true);
    assert.ok(r.status === 'ok' && r.head.method === m && r.head.contentLength === 2, m);
  }
  for (const noise of ['HELLO /x HTTP/1.1\r\n\r\n', 'QUERYX /x HTTP/1.1\r\n\r\n', 'EHLO mail.example\r\n']) assert.equal(parseHead(b(noise), true).status, 'not-http', noise);
});

test('splitTarget handles origin, absolute and fragment forms', () => {
  assert.deepEqual(splitTarget('/p?q=1#f'), { host: '', path: '/p', query: 'q=1', userinfo: false });
  assert.deepEqual(splitTarget('http://h:8080/p/q?x'), { host: 'h:8080', path: '/p/q', query: 'x', userinfo: false });
  assert.deepEqual(splitTarget('http://h'), { host: 'h', path: '/', query: '', userinfo: false });
  assert.deepEqual(splitTarget('*'), { host: '', path: '*', query: '', userinfo: false });
  assert.deepEqual(splitTarget('http://bob:s3cr3t@h:8080/p'), { host: 'h:8080', path: '/p', query: '', userinfo: true });
});

test('fuzz: random and mutated bytes never throw', () => {
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const seeds = ['GET / HTTP/1.1\r\nHost: a\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc'];
  for (let i = 0; i < 20000; i++) {
    let buf: Buffer;
    if (i % 2 === 0) {
      buf = Buffer.alloc(Math.floor(rnd() * 200));
      for (let j = 0; j < buf.length; j++) buf[j] = Math.floor(rnd() * 256);
    } else {
      buf = Buffer.from(seeds[i % 4 === 1 ? 0 : 1], 'latin1');
      for (let k = 0; k < 3; k++) buf[Math.floor(rnd() * buf.length)] = Math.floor(rnd() * 256);
      buf = buf.subarray(0, Math.floor(rnd() * (buf.length + 1)));
    }
    const r = parseHead(buf, rnd() < 0.5);
    assert.ok(['ok', 'need-more', 'not-http'].includes(r.status));
  }
});

test('the kernel lets through every method the parser knows', () => {
  // The probe decides from a payload's first four bytes whether a connection carries HTTP.
  const src = readFileSync(new URL('../../kernel/http_start.bpf.h', import.meta.url), 'utf8');
  const prefixes = new Set([...src.matchAll(/case 0x[0-9a-f]{8}: \/\* "(.{4})" \*\//g)].map((m) => m[1]));
  for (const m of METHODS) assert.ok(prefixes.has(m.padEnd(4, ' ').slice(0, 4)), `${m}: no "${m.slice(0, 4)}" case in looks_http()`);
  assert.ok(prefixes.has('HTTP'));
});

test('repeated values come out the same, whatever was parsed before', () => {
  const heads = [
    'HTTP/1.1 200 OK\r\nContent-Type: Application/JSON\r\nTransfer-Encoding: gzip, CHUNKED \t\r\nConnection: Keep-Alive, Upgrade\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked, gzip\r\nConnection: keep-alive\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Type: TEXT/html; charset=\xe9\r\nConnection: Close\r\n\r\n',
  ];
  for (let round = 0; round < 3; round++) {
    const [a, c, d] = heads.map((h) => parseHead(b(h), true));
    assert.ok(a.status === 'ok' && c.status === 'ok' && d.status === 'ok');
    assert.equal(a.head.contentType, 'application/json');
    assert.equal(c.head.contentType, 'application/json');
    assert.equal(d.head.contentType, 'text/html; charset=\xe9');
    assert.deepEqual([a.head.chunked, a.head.upgrade, a.head.connectionClose], [true, true, false]);
    assert.deepEqual([c.head.chunked, c.head.upgrade, c.head.connectionClose], [false, false, false]);
    assert.equal(d.head.connectionClose, true);
    for (const [host, ua] of [['a.example', 'curl/8'], ['b.example', 'curl/8'], ['a.example', 'wrk']]) {
      const r = parseHead(b(`GET /x HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: ${ua}\r\n\r\n`), true);
      assert.ok(r.status === 'ok' && r.head.host === host && r.head.userAgent === ua && r.head.method === 'GET' && r.head.version === '1.1');
    }
  }
});

test('a credential header with blanks around its name is still flagged', () => {
  for (const line of ['Cookie : a=b', ' Authorization: Bearer x', 'Set-Cookie\t: s=1']) {
    const r = parseHead(b(`HTTP/1.1 200 OK\r\n${line}\r\n\r\n`), true);
    assert.ok(r.status === 'ok' && r.head.sensitive, line);
  }
  const host = parseHead(b('GET / HTTP/1.1\r\nHost : a\r\n\r\n'), true);
  assert.ok(host.status === 'ok' && !host.head.sensitive && host.head.host === '');
});

test('raw UTF-8 in the target, Host and User-Agent reads as UTF-8; other bytes stay one character each', () => {
  const utf8Head = Buffer.from('GET /café?q=naïve&city=東京 HTTP/1.1\r\nHost: bücher.example\r\nUser-Agent: Mozilla/5.0 (Ünïcode)\r\n\r\n', 'utf8');
  // Twice: the second parse is served by the text cache and must agree with the first.
  for (let i = 0; i < 2; i++) {
    const r = parseHead(utf8Head, true);
    assert.ok(r.status === 'ok');
    assert.equal(r.head.target, '/café?q=naïve&city=東京');
    assert.equal(r.head.host, 'bücher.example');
    assert.equal(r.head.userAgent, 'Mozilla/5.0 (Ünïcode)');
  }
  // Not UTF-8 (a latin1 é, a lone 0xff): kept byte for byte, not replaced.
  for (let i = 0; i < 2; i++) {
    const r = parseHead(b('GET /caf\xe9\xff HTTP/1.1\r\nUser-Agent: agent\xe9\r\n\r\n'), true);
    assert.ok(r.status === 'ok');
    assert.equal(r.head.target, '/caf\xe9\xff');
    assert.equal(r.head.userAgent, 'agent\xe9');
  }
});

test('a header named like a credential marks the head sensitive (its sample is redacted)', () => {
  for (const name of ['X-Vault-Token', 'PRIVATE-TOKEN', 'X-Goog-Api-Key', 'x-amz-security-token', 'X-Client-Secret']) {
    const r = parseHead(Buffer.from(`GET / HTTP/1.1\r\nHost: h\r\n${name}: v\r\n\r\n`, 'latin1'), false);
    assert.equal(r.status === 'ok' && r.head.sensitive, true, name);
  }
  const plain = parseHead(Buffer.from('GET / HTTP/1.1\r\nHost: h\r\nX-Token-Count: 5\r\nAccept: */*\r\n\r\n', 'latin1'), false);
  assert.equal(plain.status === 'ok' && plain.head.sensitive, false);
});
