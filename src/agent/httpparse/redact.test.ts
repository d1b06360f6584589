import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactBodyText, redactHeadText, redactQuery } from './redact.ts';

test('query values of sensitive keys are redacted, others kept', () => {
  assert.equal(redactQuery('a=1&token=abc&api_key=k&Password=p&session_id=s&q=ok'), 'a=1&token=REDACTED&api_key=REDACTED&Password=REDACTED&session_id=REDACTED&q=ok');
  assert.equal(redactQuery('access%5Ftoken=x&flag'), 'access%5Ftoken=REDACTED&flag');
  assert.equal(redactQuery(''), '');
  assert.equal(redactQuery('sid=abc'), 'sid=REDACTED');
  assert.equal(redactQuery('a=1&sig=zz'), 'a=1&sig=REDACTED');
  assert.equal(redactQuery('page=2&q=shoes'), 'page=2&q=shoes');
});

test('credential headers and the request-line query are redacted in head text', () => {
  const head = 'GET /p?auth=xyz&n=1 HTTP/1.1\r\nAuthorization: Bearer s3cr3t\r\ncookie: a=b\r\nSet-Cookie: id=1\r\nX-Api-Key: k\r\nAccept: */*\r\n\r\n';
  const out = redactHeadText(head);
  assert.ok(!/s3cr3t|a=b|id=1|xyz|: k\r/.test(out), out);
  assert.match(out, /^GET \/p\?auth=REDACTED&n=1 HTTP\/1.1\r\n/);
  assert.match(out, /Accept: \*\/\*\r\n/);
});

test('form and JSON bodies lose sensitive values', () => {
  assert.equal(redactBodyText('user=a&password=b', 'application/x-www-form-urlencoded'), 'user=a&password=REDACTED');
  assert.equal(redactBodyText('{"user":"a","password":"b\\"c","n":1}', 'application/json'), '{"user":"a","password":"REDACTED","n":1}');
  assert.equal(redactBodyText('{"token":"abc', 'application/json'), '{"token":"REDACTED');
});

test('head redaction changes only what it replaces: line ends, other lines and cut heads are kept', () => {
  const clean = 'GET /a?page=2 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n';
  assert.equal(redactHeadText(clean), clean);
  // Bare LF, a colon inside a value, blanks around a name, and a head cut inside a secret.
  const mixed = 'POST /login?user=a&password=p HTTP/1.1\nHost: h:8080\r\nCookie : sid=1\nX-Note: token: no\r\nAuthorization: Bea';
  assert.equal(redactHeadText(mixed), 'POST /login?user=a&password=REDACTED HTTP/1.1\nHost: h:8080\r\nCookie : REDACTED\nX-Note: token: no\r\nAuthorization: REDACTED');
  assert.equal(redactHeadText('GET /x?token=1'), 'GET /x?token=REDACTED');
  // A forward proxy's absolute-form target with credentials in it.
  assert.equal(redactHeadText('GET http://bob:s3cr3t@h/p?token=1&a=2 HTTP/1.1\r\nHost: h\r\n\r\n'), 'GET http://REDACTED@h/p?token=REDACTED&a=2 HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.equal(redactHeadText('GET http://h/p@q HTTP/1.1\r\n\r\n'), 'GET http://h/p@q HTTP/1.1\r\n\r\n');
  assert.equal(redactHeadText(''), '');
});

test('headers named like credentials are redacted whatever their prefix; others are not', () => {
  const head = 'GET / HTTP/1.1\r\nX-Vault-Token: hvs.V1\r\nPRIVATE-TOKEN: glpat-V2\r\nX-Goog-Api-Key: V3\r\nx-amz-security-token: V4\r\nX-Client-Secret: V5\r\nX-Session-Id: V6\r\nX-Token-Count: 5\r\nKeep-Alive: timeout=5\r\n\r\n';
  const out = redactHeadText(head);
  assert.ok(!/V[1-6]/.test(out), out);
  assert.match(out, /X-Token-Count: 5\r\n/);
  assert.match(out, /Keep-Alive: timeout=5\r\n/);
});
