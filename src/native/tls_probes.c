// SPDX-License-Identifier: Apache-2.0
/*
 * Where the pump reads TLS in clear: uprobes on the TLS libraries and executables processes
 * use, found at start, on each exec (exec_req) and every 10 s in /proc. Libraries and
 * executables are told apart by file (device and inode): a uprobe covers every process that
 * maps the file, so each is probed once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "http_capture.h"
#include "http_capture.skel.h"
#include "go_tls.h"
#include "tls_probes.h"
#include "rcu_fast.h"
#include "probed_files.h"

/* TLS plaintext: uprobes on SSL_read/SSL_write (and _ex) of every distinct libssl file in
 * use. The host's copy covers processes started later; /proc/<pid>/maps finds the copies
 * that containers ship (another file, so another attachment; uprobes attach by inode).
 * Node links OpenSSL into its executable and exports its symbols: running `node` binaries
 * are attached the same way. Go executables carry crypto/tls inside: see go_tls.c. */
static const char *const LIBSSL_PATHS[] = {
	"/usr/lib/x86_64-linux-gnu/libssl.so.3", "/usr/lib/aarch64-linux-gnu/libssl.so.3",
	"/usr/lib64/libssl.so.3", "/usr/lib/libssl.so.3", "/lib/x86_64-linux-gnu/libssl.so.3",
	NULL,
};
/* GnuTLS (wget, apt, git's libcurl-gnutls): gnutls_record_send/recv take (session, buffer,
 * size) and return a byte count as SSL_write/SSL_read do, and do their I/O through syscalls
 * on the session's socket, so the same programs read them. */
static const char *const LIBGNUTLS_PATHS[] = {
	"/usr/lib/x86_64-linux-gnu/libgnutls.so.30", "/usr/lib/aarch64-linux-gnu/libgnutls.so.30",
	"/usr/lib64/libgnutls.so.30", "/usr/lib/libgnutls.so.30", NULL,
};
/* The host's Node executables, so that processes started later are read from their first
 * call (others are found by the rescan). */
static const char *const NODE_PATHS[] = { "/usr/bin/node", "/usr/local/bin/node", "/usr/bin/nodejs", NULL };

_Static_assert(2 + GO_TLS_MAX_RETS <= FILE_MAX_LINKS, "a Go executable's probes fit its record");

/* Unused files are let go after this many scans of /proc (10 s apart) without a user. */
#define IDLE_SCANS 2

struct tls_probes {
	struct http_capture *skel;
	struct probed_files *files;
};

/* Around attaching: quick grace periods (rcu_fast.c), and no detaching meanwhile (probed_files.c). */
static void attach_begin(struct tls_probes *t)
{
	probed_files_attaching(t->files, true);
	rcu_fast_begin();
}

static void attach_end(struct tls_probes *t)
{
	rcu_fast_end();
	probed_files_attaching(t->files, false);
}

static struct bpf_link *uprobe_at(struct bpf_program *prog, const char *path, __u64 off)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo);
	return bpf_program__attach_uprobe_opts(prog, -1, path, (size_t)off, &uo);
}

/* enum bpf_attach_type's BPF_TRACE_UPROBE_MULTI (Linux 6.6; Debian 12's headers and libbpf 1.1
 * predate it). */
#define HD_TRACE_UPROBE_MULTI 48

/* BPF_LINK_CREATE's arguments for a uprobe_multi link, as the kernel lays them out. */
struct link_create_uprobe_multi {
	__u32 prog_fd, target_fd, attach_type, flags;
	__u64 path, offsets, ref_ctr_offsets, cookies;
	__u32 cnt, multi_flags, pid, pad;
};

/*
 * Go's probes are uprobe_multi links where the kernel has them: one link per program covers all
 * of its offsets in the file. A perf-event uprobe takes the kernel's event_mutex to attach, and
 * holds it through two grace periods to detach (~28 ms each), so letting an unused Go program's
 * nine probes go held up the probing of new ones; a uprobe_multi link takes no such mutex and
 * is released with one grace period for all its offsets.
 */
void tls_probes_prepare(struct http_capture *skel)
{
	struct bpf_insn ret0[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = HD_TRACE_UPROBE_MULTI);
	int fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, NULL, "GPL", ret0, 2, &o);
	if (fd < 0)
		return; /* before Linux 6.6: perf-event uprobes */
	close(fd);
	bpf_program__set_expected_attach_type(skel->progs.go_tls_write, HD_TRACE_UPROBE_MULTI);
	bpf_program__set_expected_attach_type(skel->progs.go_tls_read, HD_TRACE_UPROBE_MULTI);
	bpf_program__set_expected_attach_type(skel->progs.go_tls_read_ret, HD_TRACE_UPROBE_MULTI);
}

/* One uprobe_multi link of prog at n offsets of the file: its descriptor, or -1 (errno set). */
static int uprobe_multi(struct bpf_program *prog, const char *path, const uint64_t *offsets, int n)
{
	struct link_create_uprobe_multi a = {
		.prog_fd = (__u32)bpf_program__fd(prog),
		.attach_type = HD_TRACE_UPROBE_MULTI,
		.path = (__u64)(uintptr_t)path,
		.offsets = (__u64)(uintptr_t)offsets,
		.cnt = (__u32)n,
	};
	return (int)syscall(__NR_bpf, BPF_LINK_CREATE, &a, sizeof(a));
}

/* Go's probes as three uprobe_multi links: Write, Read, Read's returns. */
static bool attach_go_multi(struct tls_probes *t, struct file_rec *rec, const char *path, const struct go_tls_offsets *o)
{
	struct http_capture *skel = t->skel;
	int fds[3];
	fds[0] = uprobe_multi(skel->progs.go_tls_write, path, &o->write_off, 1);
	fds[1] = fds[0] < 0 ? -1 : uprobe_multi(skel->progs.go_tls_read, path, &o->read_off, 1);
	fds[2] = fds[1] < 0 ? -1 : uprobe_multi(skel->progs.go_tls_read_ret, path, o->read_ret_off, o->nrets);
	if (fds[2] < 0) {
		int err = errno;
		for (int i = 0; i < 3; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		errno = err;
		return false;
	}
	memcpy(rec->fds, fds, sizeof(fds));
	rec->nfds = 3;
	return true;
}

/* Go's probes as perf-event uprobes (before Linux 6.6): one per offset. */
static bool attach_go_perf(struct tls_probes *t, struct file_rec *rec, const char *path, const struct go_tls_offsets *o)
{
	struct http_capture *skel = t->skel;
	struct bpf_link *l[2 + GO_TLS_MAX_RETS];
	int n = 0;
	l[n] = uprobe_at(skel->progs.go_tls_write, path, o->write_off);
	if (l[n])
		l[++n] = uprobe_at(skel->progs.go_tls_read, path, o->read_off);
	for (int i = 0; l[n] && i < o->nrets; i++)
		l[++n] = uprobe_at(skel->progs.go_tls_read_ret, path, o->read_ret_off[i]);
	if (!l[n]) {
		int err = errno;
		while (n > 0)
			bpf_link__destroy(l[--n]);
		errno = err;
		return false;
	}
	memcpy(rec->links, l, sizeof(*l) * (size_t)(n + 1));
	rec->nlinks = n + 1;
	return true;
}

/* A Go executable linking crypto/tls: Write and Read probed at their entries, and Read at its
 * returns (go_tls.bpf.h). */
static void attach_go_exe(struct tls_probes *t, struct file_rec *rec, const char *path, const char *name)
{
	struct go_tls_offsets o;
	int found = go_tls_find(path, &o);
	if (found == GO_TLS_UNREADABLE)
		fprintf(stderr, "heimdall-pump: note TLS not read from Go executable %s: its crypto/tls code is laid out in a way this agent does not know\n", name);
	if (found)
		return;
	bool multi = bpf_program__expected_attach_type(t->skel->progs.go_tls_write) == (enum bpf_attach_type)HD_TRACE_UPROBE_MULTI;
	attach_begin(t);
	bool ok = multi ? attach_go_multi(t, rec, path, &o) : attach_go_perf(t, rec, path, &o);
	int err = errno;
	attach_end(t);
	if (ok)
		fprintf(stderr, "heimdall-pump: note TLS plaintext read from crypto/tls in Go executable %s\n", name);
	else
		fprintf(stderr, "heimdall-pump: note TLS not read from Go executable %s: %s\n", name, strerror(err));
}

enum tls_lib { TLS_OPENSSL, TLS_GNUTLS };

/* The first readable path of a NULL-terminated list (the host's copy of a library), or NULL. */
static const char *first_readable(const char *const *paths)
{
	for (; *paths; paths++)
		if (access(*paths, R_OK) == 0)
			return *paths;
	return NULL;
}

/* Attaches the TLS uprobes to one library file. OpenSSL: the _ex pair is optional (< 1.1.1). */
static int attach_tls_lib(struct tls_probes *t, const char *path, enum tls_lib kind, bool pinned)
{
	struct stat st;
	struct file_rec *rec;
	if (stat(path, &st) != 0 || probed_files_use(t->files, &st) || !(rec = probed_files_add(t->files, &st)))
		return 0;
	rec->pinned = pinned;

	struct http_capture *skel = t->skel;
	struct probe { struct bpf_program *prog; const char *func; bool ret; bool required; };
	const struct probe openssl[] = {
		{ skel->progs.ssl_write_enter, "SSL_write", false, true },
		{ skel->progs.ssl_ret, "SSL_write", true, true },
		{ skel->progs.ssl_read_enter, "SSL_read", false, true },
		{ skel->progs.ssl_ret, "SSL_read", true, true },
		{ skel->progs.ssl_write_ex_enter, "SSL_write_ex", false, false },
		{ skel->progs.ssl_ret, "SSL_write_ex", true, false },
		{ skel->progs.ssl_read_ex_enter, "SSL_read_ex", false, false },
		{ skel->progs.ssl_ret, "SSL_read_ex", true, false },
		{ skel->progs.ssl_set_fd, "SSL_set_fd", false, false },
		{ skel->progs.ssl_free, "SSL_free", false, false },
	};
	const struct probe gnutls[] = {
		{ skel->progs.ssl_write_enter, "gnutls_record_send", false, true },
		{ skel->progs.ssl_ret, "gnutls_record_send", true, true },
		{ skel->progs.ssl_read_enter, "gnutls_record_recv", false, true },
		{ skel->progs.ssl_ret, "gnutls_record_recv", true, true },
		{ skel->progs.ssl_free, "gnutls_deinit", false, false },
	};
	const struct probe *probes = kind == TLS_GNUTLS ? gnutls : openssl;
	size_t nprobes = kind == TLS_GNUTLS ? sizeof(gnutls) / sizeof(gnutls[0]) : sizeof(openssl) / sizeof(openssl[0]);
	attach_begin(t);
	for (size_t i = 0; i < nprobes; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = probes[i].func, .retprobe = probes[i].ret);
		struct bpf_link *l = bpf_program__attach_uprobe_opts(probes[i].prog, -1, path, 0, &uo);
		if (l) {
			rec->links[rec->nlinks++] = l;
			continue;
		}
		if (!probes[i].required)
			continue;
		fprintf(stderr, "heimdall-pump: note TLS not read from %s: cannot attach to %s: %s\n", path, probes[i].func, strerror(errno));
		while (rec->nlinks > 0)
			bpf_link__destroy(rec->links[--rec->nlinks]);
		attach_end(t);
		return 0;
	}
	attach_end(t);
	fprintf(stderr, "heimdall-pump: note TLS plaintext read from %s in %s\n", kind == TLS_GNUTLS ? "gnutls_record_recv/send" : "SSL_read/SSL_write", path);
	return 1;
}

/* A process's executable: node (OpenSSL inside) or Go (crypto/tls inside)? */
static void check_exe(struct tls_probes *t, const char *pid)
{
	char link[64], exe[512], host[800];
	struct stat st;
	snprintf(link, sizeof(link), "/proc/%s/exe", pid);
	/* Looked at before: now in use again (a deleted file too: a running program replaced on
	 * disk keeps its probes). */
	if (stat(link, &st) != 0 || probed_files_use(t->files, &st))
		return;
	ssize_t n = readlink(link, exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = 0;
	if (strstr(exe, " (deleted)"))
		return;
	const char *base = strrchr(exe, '/');
	base = base ? base + 1 : exe;
	snprintf(host, sizeof(host), "/proc/%s/root%s", pid, exe);
	if (strcmp(base, "node") == 0 || strcmp(base, "nodejs") == 0) {
		attach_tls_lib(t, host, TLS_OPENSSL, false);
		return;
	}
	/* Held open while probing: a short-lived process may exit meanwhile, and with it the
	 * /proc/<pid>/root path; the executable's file stays reachable through this descriptor. */
	int fd = open(link, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	/* Recorded only once open: a process that exits between the stat and the open (a short-lived
	 * client) must not leave its executable recorded but never looked at. */
	struct file_rec *rec;
	if (fstat(fd, &st) != 0 || probed_files_use(t->files, &st) || !(rec = probed_files_add(t->files, &st))) {
		close(fd);
		return;
	}
	char held[64];
	snprintf(held, sizeof(held), "/proc/self/fd/%d", fd);
	attach_go_exe(t, rec, held, host);
	close(fd);
}

/* Processes that exec'd since the last look (exec_req). */
void tls_probes_serve_execs(struct tls_probes *t)
{
	int fd = bpf_map__fd(t->skel->maps.exec_req);
	__u32 k, next, todo[256];
	void *prev = NULL;
	int n = 0;
	while (n < 256 && bpf_map_get_next_key(fd, prev, &next) == 0) {
		todo[n++] = next;
		k = next;
		prev = &k;
	}
	for (int i = 0; i < n; i++) {
		char pid[16];
		bpf_map_delete_elem(fd, &todo[i]);
		snprintf(pid, sizeof(pid), "%u", todo[i]);
		check_exe(t, pid);
	}
}

/* Every libssl mapped by a running process, and every running `node` executable, through
 * the process's own root (containers included); then files no process used lately are let go. */
void tls_probes_scan(struct tls_probes *t)
{
	DIR *proc = opendir("/proc");
	struct dirent *d;
	char maps[300], line[512], host[800], mapped[800];
	struct stat st;
	if (!proc)
		return;
	while ((d = readdir(proc)) != NULL) {
		if (d->d_name[0] < '1' || d->d_name[0] > '9')
			continue;
		snprintf(maps, sizeof(maps), "/proc/%s/maps", d->d_name);
		FILE *f = fopen(maps, "r");
		if (!f)
			continue;
		bool openssl = false, gnutls = false;
		while (fgets(line, sizeof(line), f) && !(openssl && gnutls)) {
			char *path = strchr(line, '/');
			if (!path)
				continue;
			bool is_openssl = !openssl && strstr(path, "/libssl.so");
			bool is_gnutls = !gnutls && strstr(path, "/libgnutls.so");
			if (!is_openssl && !is_gnutls)
				continue;
			path[strcspn(path, "\n")] = 0;
			openssl |= is_openssl; /* one of each per process */
			gnutls |= is_gnutls;
			/* The mapping's own file says which library this is, even deleted (upgraded while
			 * the process runs): one looked at before is in use, and keeps its probes. */
			snprintf(mapped, sizeof(mapped), "/proc/%s/map_files/%.*s", d->d_name, (int)strcspn(line, " "), line);
			if (stat(mapped, &st) == 0 && probed_files_use(t->files, &st))
				continue;
			if (strstr(path, " (deleted)"))
				continue;
			snprintf(host, sizeof(host), "/proc/%s/root%s", d->d_name, path);
			attach_tls_lib(t, host, is_gnutls ? TLS_GNUTLS : TLS_OPENSSL, false);
		}
		fclose(f);
		check_exe(t, d->d_name);
	}
	closedir(proc);
	probed_files_sweep(t->files, IDLE_SCANS);
}


struct tls_probes *tls_probes_start(struct http_capture *skel)
{
	struct tls_probes *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->skel = skel;
	if (!(t->files = probed_files_new())) {
		free(t);
		return NULL;
	}
	const char *host_lib = first_readable(LIBSSL_PATHS);
	if (host_lib)
		attach_tls_lib(t, host_lib, TLS_OPENSSL, true);
	else
		fprintf(stderr, "heimdall-pump: note no libssl.so.3 on the host; TLS read only from libraries processes have loaded\n");
	if ((host_lib = first_readable(LIBGNUTLS_PATHS)))
		attach_tls_lib(t, host_lib, TLS_GNUTLS, true);
	for (int i = 0; NODE_PATHS[i]; i++)
		if (access(NODE_PATHS[i], R_OK) == 0)
			attach_tls_lib(t, NODE_PATHS[i], TLS_OPENSSL, true);
	tls_probes_scan(t);
	return t;
}

void tls_probes_free(struct tls_probes *t)
{
	if (!t)
		return;
	probed_files_free(t->files);
	free(t);
}
