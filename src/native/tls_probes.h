/* SPDX-License-Identifier: Apache-2.0 */
#ifndef HEIMDALL_TLS_PROBES_H
#define HEIMDALL_TLS_PROBES_H

struct http_capture;
struct tls_probes;

/* Before the probe is loaded: Go's programs become uprobe_multi ones if the kernel has them. */
void tls_probes_prepare(struct http_capture *skel);
/* Attaches the TLS uprobes to the host's libssl, libgnutls and node, and to what running
 * processes use (their own libssl copies, node and Go executables). NULL without memory. */
struct tls_probes *tls_probes_start(struct http_capture *skel);
/* Looks at /proc again: libraries loaded since, processes that exec'd before the probe ran. */
void tls_probes_scan(struct tls_probes *t);
/* Looks at the executables of processes that exec'd since the last call (exec_req). */
void tls_probes_serve_execs(struct tls_probes *t);
/* Detaches everything (NULL is fine). */
void tls_probes_free(struct tls_probes *t);
#endif
