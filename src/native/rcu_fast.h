/* SPDX-License-Identifier: Apache-2.0 */
#ifndef HEIMDALL_RCU_FAST_H
#define HEIMDALL_RCU_FAST_H
#include <stdbool.h>

/* Expedited RCU grace periods while probes are attached (see rcu_fast.c). */
void rcu_fast_enable(bool on);
/* Raises /sys/kernel/rcu_expedited if it is 0 (and this is enabled). */
void rcu_fast_begin(void);
/* Puts it back if begin raised it. */
void rcu_fast_end(void);
#endif
