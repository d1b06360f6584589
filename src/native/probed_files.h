/* SPDX-License-Identifier: Apache-2.0 */
#ifndef HEIMDALL_PROBED_FILES_H
#define HEIMDALL_PROBED_FILES_H
#include <stdbool.h>
#include <sys/types.h>
#include <sys/stat.h>

struct bpf_link;

/* OpenSSL's 10 probes, or Go's Write, Read and Read's returns (GO_TLS_MAX_RETS). */
#define FILE_MAX_LINKS 20

/* A library or executable the pump has looked at (told apart by device and inode), with the
 * probes it put on it, if any. */
struct file_rec {
	dev_t dev;
	ino_t ino;
	bool pinned;         /* the host's libraries and node: kept for processes yet to start */
	bool used;           /* some process used it since the last sweep */
	unsigned char idle;  /* sweeps in a row it was not used */
	int nlinks;
	struct bpf_link *links[FILE_MAX_LINKS];
	/* uprobe_multi links (Go's probes where the kernel has them): plain descriptors. */
	int nfds;
	int fds[4];
};

struct probed_files;

/* NULL without memory (or without a thread for detaching). */
struct probed_files *probed_files_new(void);
/* Probes are being attached (true) or done (false): detaching waits meanwhile. */
void probed_files_attaching(struct probed_files *pf, bool on);
/* The file's record, marked as in use, or NULL if it was never looked at. */
struct file_rec *probed_files_use(struct probed_files *pf, const struct stat *st);
/* A new record (in use, no links), or NULL when the table is full. */
struct file_rec *probed_files_add(struct probed_files *pf, const struct stat *st);
/* Ends a sweep: files no process used for `after` sweeps in a row are forgotten and their
 * probes detached on a thread of their own (each detach waits ~28 ms here). */
void probed_files_sweep(struct probed_files *pf, int after);
/* Detaches everything, waiting for it. */
void probed_files_free(struct probed_files *pf);
#endif
