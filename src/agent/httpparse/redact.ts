// Secrets never leave the agent: query values of sensitive keys, credential headers
// (also inside sampled bytes) and sensitive fields of form or JSON bodies are replaced.

export const REDACTED = 'REDACTED';
const SENSITIVE_KEY = /pass(word|wd)?|pwd|secret|token|key|auth|session|sess_?id|sid$|signature|sig$|credential|jwt|cookie|otp|private/i;
/** Unanchored superset of SENSITIVE_KEY: when it finds nothing in a whole query, no key can match. */
const MAYBE_SENSITIVE = /pass|pwd|secret|token|key|auth|sess|sid|sig|credential|jwt|cookie|otp|private/i;
/**
 * Header names ending like these carry credentials whatever their prefix (X-Vault-Token,
 * PRIVATE-TOKEN, X-Goog-Api-Key, X-Amz-Security-Token, X-Client-Secret): values replaced.
 */
export const SENSITIVE_HEADER_SUFFIXES = ['token', 'secret', 'api-key', 'api_key', 'apikey', 'access-key', 'access_key', 'private-key', 'password', 'passwd', 'credential', 'credentials', 'session-id', 'session_id', 'sessionid'];
const SENSITIVE_HEADER = new RegExp(`^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|x-auth-token|x-csrf-token|x-xsrf-token|.*(${SENSITIVE_HEADER_SUFFIXES.join('|')}))$`, 'i');

export function isSensitiveKey(key: string): boolean {
  let k = key;
  try {
    k = decodeURIComponent(key);
  } catch {
    // keep the raw key
  }
  return SENSITIVE_KEY.test(k);
}

/** "a=1&token=xyz" → "a=1&token=REDACTED". Keys and order are kept. */
export function redactQuery(query: string): string {
  // Most queries hold no sensitive word at all: one regex test instead of splitting.
  if (query === '' || (!MAYBE_SENSITIVE.test(query) && !query.includes('%'))) return query;
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair;
      return isSensitiveKey(pair.slice(0, eq)) ? `${pair.slice(0, eq)}=${REDACTED}` : pair;
    })
    .join('&');
}

const REQUEST_LINE_QUERY = /^(\S+ )(\S*?)\?(\S*)( .*)?$/;
/** An absolute-form target's user:password@ (requests to forward proxies). */
const REQUEST_LINE_USERINFO = /^(\S+ [A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#\s@]*@/;

/**
 * Sanitises a head (latin1 text, possibly cut short): start-line userinfo and query, credential header
 * values. Walks the lines in place and copies only around what it replaces (a split and join
 * per sample was most of the cost of redacting one).
 */
export function redactHeadText(head: string): string {
  let out = '';
  let copied = 0;
  let changed = false;
  for (let start = 0, first = true; start <= head.length; first = false) {
    const nl = head.indexOf('\n', start);
    const end = nl < 0 ? head.length : nl;
    const lineEnd = end > start && head.charCodeAt(end - 1) === 13 ? end - 1 : end;
    let replacement: string | null = null;
    if (first) {
      const line = head.slice(start, lineEnd);
      let redacted = line;
      const u = REQUEST_LINE_USERINFO.exec(redacted);
      if (u) redacted = `${u[1]}${REDACTED}@${redacted.slice(u[0].length)}`;
      const m = REQUEST_LINE_QUERY.exec(redacted);
      if (m) redacted = `${m[1]}${m[2]}?${redactQuery(m[3])}${m[4] ?? ''}`;
      if (redacted !== line) replacement = redacted;
    } else {
      const colon = head.indexOf(':', start);
      if (colon > start && colon < lineEnd && SENSITIVE_HEADER.test(head.slice(start, colon).trim())) replacement = `${head.slice(start, colon)}: ${REDACTED}`;
    }
    if (replacement !== null) {
      out += head.slice(copied, start) + replacement;
      copied = lineEnd;
      changed = true;
    }
    if (nl < 0) break;
    start = nl + 1;
  }
  return changed ? out + head.slice(copied) : head;
}

const isForm = (contentType: string) => contentType.includes('application/x-www-form-urlencoded');
const isJson = (contentType: string) => contentType.includes('json');

/** Bodies of this (lower-case) content type can carry fields redactBodyText replaces. */
export function bodyMayNeedRedaction(contentType: string): boolean {
  return isForm(contentType) || isJson(contentType);
}

/** Sensitive fields in form-encoded or JSON body text. */
export function redactBodyText(body: string, contentType: string): string {
  if (isForm(contentType)) return redactQuery(body);
  if (isJson(contentType)) {
    return body.replace(/("([^"\\]{1,64})"\s*:\s*)"((?:[^"\\]|\\.)*)("?)/g, (all, pre: string, key: string, _v: string, close: string) =>
      isSensitiveKey(key) ? `${pre}"${REDACTED}${close}` : all,
    );
  }
  return body;
}
