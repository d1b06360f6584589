import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { containerIdFromCgroup, ProcessInfoCache } from './process-info.ts';
import { tempDir } from '../../../test/helpers/temp-dir.ts';

const id = 'a'.repeat(56) + '0123abcd';

test('container ids from docker, containerd, CRI-O and cgroup v1 paths', () => {
  assert.equal(containerIdFromCgroup(`0::/system.slice/docker-${id}.scope\n`), id);
  assert.equal(containerIdFromCgroup(`0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-${id}.scope`), id);
  assert.equal(containerIdFromCgroup(`0::/kubepods/besteffort/pod1/crio-${id}.scope`), id);
  assert.equal(containerIdFromCgroup(`12:memory:/docker/${id}\n11:cpu:/docker/${id}`), id);
  assert.equal(containerIdFromCgroup('0::/user.slice/user-0.slice/session-1.scope\n'), '');
});

test('reads this process from /proc', () => {
  const info = new ProcessInfoCache().get(process.pid, 'fallback');
  assert.ok(info.comm.length > 0);
  assert.equal(new ProcessInfoCache().get(2 ** 30, 'gone').comm, 'gone');
});

test('a generic thread name is replaced by the executable, or by the probe\'s name once the process is exiting', () => {
  // A stand-in /proc: an exiting process keeps comm and cgroup but loses its exe link.
  const root = tempDir('heimdall-proc-');
  for (const [pid, exe] of [[10, '/usr/bin/node'], [11, null]] as const) {
    mkdirSync(join(root, String(pid)));
    writeFileSync(join(root, String(pid), 'comm'), 'MainThread\n');
    writeFileSync(join(root, String(pid), 'cgroup'), `0::/system.slice/docker-${id}.scope\n`);
    if (exe) symlinkSync(exe, join(root, String(pid), 'exe'));
  }
  const cache = new ProcessInfoCache(root);
  assert.deepEqual(cache.get(10, 'MainThread'), { comm: 'node', containerId: id });
  assert.deepEqual(cache.get(11, 'node'), { comm: 'node', containerId: id }, 'exiting: the probe named it from the executable');
  assert.equal(new ProcessInfoCache(root).get(11, 'MainThread').comm, 'MainThread', 'nothing better known');
});

test('a process that execs another program, or a pid taken by a new process, is named anew at once', () => {
  const root = tempDir('heimdall-proc-');
  mkdirSync(join(root, '12'));
  writeFileSync(join(root, '12', 'comm'), 'sh\n');
  writeFileSync(join(root, '12', 'cgroup'), '0::/user.slice\n');
  const cache = new ProcessInfoCache(root);
  assert.equal(cache.get(12, 'sh', 1000).comm, 'sh');
  // `exec python3 …` from an entrypoint script: same pid, the probe now names it python3.
  writeFileSync(join(root, '12', 'comm'), 'python3\n');
  writeFileSync(join(root, '12', 'cgroup'), `0::/system.slice/docker-${id}.scope\n`);
  assert.deepEqual(cache.get(12, 'python3', 2000), { comm: 'python3', containerId: id });
  assert.equal(cache.get(12, 'python3', 2500).comm, 'python3', 'cached again');
  // A connection opened before the exec still carries the old name: /proc is not read per record.
  writeFileSync(join(root, '12', 'comm'), 'renamed\n');
  assert.equal(cache.get(12, 'sh', 2900).comm, 'python3', 'read again only a second after the last read');
  assert.equal(cache.get(12, 'sh', 3100).comm, 'renamed');
});
