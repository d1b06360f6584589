// SPDX-License-Identifier: Apache-2.0
/*
 * Registering the first uprobe on a file takes a per-CPU rw-semaphore for writing, which waits
 * for an RCU grace period: ~12 ms here. A short-lived Go client is done by then (30 fresh
 * copies of a 15 ms HTTPS client, started 0.3 s apart: 2 read whole, 22 not at all). With
 * expedited grace periods the wait is microseconds (the same 30 runs: all read whole).
 * Detaching is no quicker (it waits for RCU Tasks Trace grace periods, which this setting does
 * not touch), so it is not raised then.
 *
 * /sys/kernel/rcu_expedited is the whole system's setting, so it is raised only around the
 * attaching, and only from 0 (a system that expedites already is left alone),
 * then put back. A pump killed with SIGKILL inside that window would leave it raised: the
 * kernel then expedites every grace period (more IPIs, nothing lost). --no-fast-attach
 * (AGENT_FAST_ATTACH=false) turns this off.
 */
#include <fcntl.h>
#include <unistd.h>
#include "rcu_fast.h"

static const char *const KNOB = "/sys/kernel/rcu_expedited";
static bool enabled = true;
static bool raised;

void rcu_fast_enable(bool on)
{
	enabled = on;
}

void rcu_fast_begin(void)
{
	if (!enabled || raised)
		return;
	int fd = open(KNOB, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return; /* no such knob, or /sys read-only (a container): attach at the usual speed */
	char c = 0;
	if (pread(fd, &c, 1, 0) == 1 && c == '0' && pwrite(fd, "1", 1, 0) == 1)
		raised = true;
	close(fd);
}

void rcu_fast_end(void)
{
	if (!raised)
		return;
	int fd = open(KNOB, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (pwrite(fd, "0", 1, 0) == 1)
			raised = false;
		close(fd);
	}
}
