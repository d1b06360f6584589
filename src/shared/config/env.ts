// Env parsing helpers shared by the server and agent config modules. Every failure names
// the variable, the value and what was expected, and stops start-up.
import { HeimdallError } from '../errors.ts';

export type Env = Record<string, string | undefined>;

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Go-style duration ("2s", "500ms", "1m30s", "0") → milliseconds; null when malformed. */
export function parseDurationMs(text: string): number | null {
  const s = text.trim();
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * UNIT_MS[m[2]];
    pos = re.lastIndex;
  }
  return pos === s.length && pos > 0 ? total : null;
}

function bad(name: string, value: string, expected: string): HeimdallError {
  return new HeimdallError('CONFIG_INVALID', `${name}=${JSON.stringify(value)} is invalid: expected ${expected}`);
}

export function envString(env: Env, name: string, def: string): string {
  const v = env[name];
  return v === undefined || v === '' ? def : v;
}

export function envDurationMs(env: Env, name: string, def: string, opts: { min?: number; allowZero?: boolean } = {}): number {
  const raw = envString(env, name, def);
  const ms = parseDurationMs(raw);
  const min = opts.min ?? 1;
  if (ms === null) throw bad(name, raw, 'a duration like 500ms, 2s, 1m30s');
  if (ms === 0 && opts.allowZero) return 0;
  if (ms < min) throw bad(name, raw, `a duration of at least ${min}ms${opts.allowZero ? ' (or 0 to disable)' : ''}`);
  return ms;
}

export function envInt(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw.trim())) throw bad(name, raw, `a whole number from ${min} to ${max}`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw bad(name, raw, `a whole number from ${min} to ${max}`);
  return n;
}

export function envBool(env: Env, name: string, def: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw bad(name, raw, 'true or false');
}

export function envPort(env: Env, name: string, def: number): number {
  return envInt(env, name, def, 0, 65535);
}
