import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Every test file runs in its own process: its temporary directories (chDB data, nginx
// configs, compiled helpers) go when it exits, so a CI run leaves nothing behind. A run kept
// for debugging sets HEIMDALL_KEEP_TEST_DIRS=1.
const made: string[] = [];
let hooked = false;

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  if (!hooked && process.env.HEIMDALL_KEEP_TEST_DIRS !== '1') {
    hooked = true;
    process.on('exit', () => {
      for (const d of made) {
        try { rmSync(d, { recursive: true, force: true, maxRetries: 2 }); } catch { /* a child still writing: the OS's tmp cleaning has it */ }
      }
    });
  }
  return dir;
}
