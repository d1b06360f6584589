/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef HEIMDALL_GO_TLS_H
#define HEIMDALL_GO_TLS_H
#include <stdint.h>

#define GO_TLS_MAX_RETS 16

/* File offsets, in a Go executable, of the first instruction past the stack check of
 * crypto/tls.(*Conn).Write and crypto/tls.(*Conn).Read, and of Read's RET instructions. */
struct go_tls_offsets {
	uint64_t write_off;
	uint64_t read_off;
	uint64_t read_ret_off[GO_TLS_MAX_RETS];
	int nrets;
};

/* Go with crypto/tls whose code is laid out in a way not recognised (a Go release after the
 * ones checked, a build with other flags): nothing is probed. */
#define GO_TLS_UNREADABLE -2

/* 0 when path is a Go 1.18+ amd64 executable that links crypto/tls; GO_TLS_UNREADABLE when it
 * links crypto/tls but its functions could not be located safely; -1 otherwise. */
int go_tls_find(const char *path, struct go_tls_offsets *out);
#endif
