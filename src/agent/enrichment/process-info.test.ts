import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerIdFromCgroup, ProcessInfoCache } from './process-info.ts';

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
