// The BPF stack limit (512 bytes) holds for a whole call chain: a program's frame, the global
// functions it calls and the bpf_loop callbacks under them. Kernels differ in what they count
// (6.18.44 counts callbacks; the kernel before it did not, so a probe over the limit loaded
// there and was refused here), so the chains are summed from the object itself, as the newest
// verifier does, with room to spare.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const OBJECT = fileURLToPath(new URL('../../build/http_capture.bpf.o', import.meta.url));
const LIMIT = 512;
const MARGIN = 16;

/** Debian's clang brings llvm-14 (llvm-objdump-14); the unversioned name comes with package llvm. */
function objdump(args: string[]): string | null {
  for (const tool of ['llvm-objdump', 'llvm-objdump-14']) {
    try {
      return execFileSync(tool, [...args, OBJECT], { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      // the next name
    }
  }
  return null;
}

interface Fn { name: string; section: string; start: number; end: number; frame: number; callees: Set<string> }

/** Functions with their frames (deepest r10 offset, rounded to 16 as with the JIT) and callees. */
function callGraph(symbols: string, disassembly: string): Map<string, Fn> {
  const fns = new Map<string, Fn>();
  // "0000000000000910 l     F .text	0000000000001908 h1_step"
  for (const m of symbols.matchAll(/^([0-9a-f]{16}) \S+\s+F (\S+)\s+([0-9a-f]{16}) (\S+)$/gm)) {
    const start = parseInt(m[1], 16);
    fns.set(m[4], { name: m[4], section: m[2], start, end: start + parseInt(m[3], 16), frame: 0, callees: new Set() });
  }
  const textAt = (off: number) => [...fns.values()].find((f) => f.section === '.text' && f.start === off)?.name;
  let current: Fn | undefined;
  let lastLoad = -1; // "rN = OFF ll": a callback's address, when a .text relocation follows
  for (const line of disassembly.split('\n')) {
    const head = /^[0-9a-f]+ <([^>]+)>:$/.exec(line);
    if (head) {
      if (fns.has(head[1])) current = fns.get(head[1]);
      continue;
    }
    if (!current) continue;
    for (const d of line.matchAll(/r10 - (\d+)\)/g)) current.frame = Math.max(current.frame, Number(d[1]));
    const load = /\br\d = (\d+) ll$/.exec(line);
    if (load) {
      lastLoad = Number(load[1]);
      continue;
    }
    const reloc = /R_BPF_64_(64|32)\s+(\S+)$/.exec(line.trim());
    if (reloc) {
      const target = reloc[2] === '.text' && reloc[1] === '64' ? textAt(lastLoad) : reloc[1] === '32' ? reloc[2] : undefined;
      if (target && fns.has(target)) current.callees.add(target);
    }
    lastLoad = -1;
  }
  for (const f of fns.values()) f.frame = Math.ceil(f.frame / 16) * 16;
  return fns;
}

/** The deepest chain from fn: its frames summed, and the names along it. */
function deepest(fns: Map<string, Fn>, name: string, seen = new Set<string>()): { bytes: number; chain: string[] } {
  const f = fns.get(name);
  if (!f || seen.has(name)) return { bytes: 0, chain: [] };
  seen.add(name);
  let best = { bytes: 0, chain: [] as string[] };
  for (const c of f.callees) {
    const d = deepest(fns, c, seen);
    if (d.bytes > best.bytes) best = d;
  }
  seen.delete(name);
  return { bytes: f.frame + best.bytes, chain: [`${name} ${f.frame}`, ...best.chain] };
}

const skip = !existsSync(OBJECT) ? 'build/http_capture.bpf.o is not built (npm test builds it)' : objdump(['--version']) === null ? 'llvm-objdump is missing (Debian package llvm-14, which clang recommends)' : false;

test('every program\'s deepest call chain fits the BPF stack with room to spare', { skip }, () => {
  const fns = callGraph(objdump(['-t'])!, objdump(['-dr', '--no-show-raw-insn'])!);
  const programs = [...fns.values()].filter((f) => f.section !== '.text');
  assert.ok(programs.length > 10, `found ${programs.length} programs`);
  // The walks must be seen as callees, or the sum below means nothing.
  assert.ok(fns.get('h1_heads')?.callees.has('h1_step') && fns.get('h1_step')?.callees.has('h1_scan_step'), 'the HTTP/1 walk\'s callbacks were not found');
  const over = programs.map((p) => deepest(fns, p.name)).filter((d) => d.bytes > LIMIT - MARGIN);
  assert.deepEqual(over.map((d) => `${d.bytes}: ${d.chain.join(' -> ')}`), [], `chains within ${MARGIN} bytes of the ${LIMIT}-byte limit`);
});
