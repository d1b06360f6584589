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
#include <linux/types.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "http_capture.h"
#include "http_capture.skel.h"
#include "go_tls.h"
#include "tls_probes.h"

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

#define MAX_TLS_LIBS 64
#define MAX_EXES 4096      /* distinct executables looked at for Go's crypto/tls */

struct file_id { dev_t dev; ino_t ino; };

struct tls_probes {
	struct http_capture *skel;
	struct file_id seen[MAX_TLS_LIBS];
	int nseen;
	struct file_id exes[MAX_EXES];
	int nexes;
	struct bpf_link **links;
	int nlinks, caplinks;
};

static bool keep_link(struct tls_probes *t, struct bpf_link *l)
{
	if (t->nlinks == t->caplinks) {
		int cap = t->caplinks ? t->caplinks * 2 : 256;
		struct bpf_link **n = realloc(t->links, sizeof(*n) * (size_t)cap);
		if (!n) {
			bpf_link__destroy(l);
			return false;
		}
		t->links = n;
		t->caplinks = cap;
	}
	t->links[t->nlinks++] = l;
	return true;
}

static bool was_seen(const struct file_id *set, int n, const struct stat *st)
{
	for (int i = 0; i < n; i++)
		if (set[i].dev == st->st_dev && set[i].ino == st->st_ino)
			return true;
	return false;
}

/* Whether st's file is in the set; adds it when not (and there is room). */
static bool seen_file(struct file_id *set, int *n, int max, const struct stat *st)
{
	if (was_seen(set, *n, st))
		return true;
	if (*n < max) {
		set[*n].dev = st->st_dev;
		set[*n].ino = st->st_ino;
		(*n)++;
	}
	return false;
}

static struct bpf_link *uprobe_at(struct bpf_program *prog, const char *path, __u64 off)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo);
	return bpf_program__attach_uprobe_opts(prog, -1, path, (size_t)off, &uo);
}

/* A Go executable linking crypto/tls: Write and Read probed at their entries, and Read at its
 * returns (go_tls.bpf.h). */
static void attach_go_exe(struct tls_probes *t, const char *path, const char *name)
{
	struct go_tls_offsets o;
	int found = go_tls_find(path, &o);
	if (found == GO_TLS_UNREADABLE)
		fprintf(stderr, "heimdall-pump: note TLS not read from Go executable %s: its crypto/tls code is laid out in a way this agent does not know\n", name);
	if (found)
		return;
	struct bpf_link *l[2 + GO_TLS_MAX_RETS];
	int n = 0;
	l[n] = uprobe_at(t->skel->progs.go_tls_write, path, o.write_off);
	if (l[n])
		l[++n] = uprobe_at(t->skel->progs.go_tls_read, path, o.read_off);
	for (int i = 0; l[n] && i < o.nrets; i++)
		l[++n] = uprobe_at(t->skel->progs.go_tls_read_ret, path, o.read_ret_off[i]);
	if (!l[n]) {
		fprintf(stderr, "heimdall-pump: note TLS not read from Go executable %s: %s\n", name, strerror(errno));
		while (n > 0)
			bpf_link__destroy(l[--n]);
		return;
	}
	for (int i = 0; i <= n; i++)
		if (!keep_link(t, l[i]))
			return;
	fprintf(stderr, "heimdall-pump: note TLS plaintext read from crypto/tls in Go executable %s\n", name);
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
static int attach_tls_lib(struct tls_probes *t, const char *path, enum tls_lib kind)
{
	struct stat st;
	if (stat(path, &st) != 0 || t->nseen == MAX_TLS_LIBS || seen_file(t->seen, &t->nseen, MAX_TLS_LIBS, &st))
		return 0;

	struct http_capture *skel = t->skel;
	struct probe { struct bpf_program *prog; const char *func; bool ret; bool required; };
	const struct probe openssl[] = {
		{ skel->progs.ssl_write_enter, "SSL_write", false, true },
		{ skel->progs.ssl_write_exit, "SSL_write", true, true },
		{ skel->progs.ssl_read_enter, "SSL_read", false, true },
		{ skel->progs.ssl_read_exit, "SSL_read", true, true },
		{ skel->progs.ssl_write_ex_enter, "SSL_write_ex", false, false },
		{ skel->progs.ssl_write_ex_exit, "SSL_write_ex", true, false },
		{ skel->progs.ssl_read_ex_enter, "SSL_read_ex", false, false },
		{ skel->progs.ssl_read_ex_exit, "SSL_read_ex", true, false },
		{ skel->progs.ssl_set_fd, "SSL_set_fd", false, false },
		{ skel->progs.ssl_free, "SSL_free", false, false },
	};
	const struct probe gnutls[] = {
		{ skel->progs.ssl_write_enter, "gnutls_record_send", false, true },
		{ skel->progs.ssl_write_exit, "gnutls_record_send", true, true },
		{ skel->progs.ssl_read_enter, "gnutls_record_recv", false, true },
		{ skel->progs.ssl_read_exit, "gnutls_record_recv", true, true },
		{ skel->progs.ssl_free, "gnutls_deinit", false, false },
	};
	const struct probe *probes = kind == TLS_GNUTLS ? gnutls : openssl;
	size_t nprobes = kind == TLS_GNUTLS ? sizeof(gnutls) / sizeof(gnutls[0]) : sizeof(openssl) / sizeof(openssl[0]);
	int first = t->nlinks;
	for (size_t i = 0; i < nprobes; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = probes[i].func, .retprobe = probes[i].ret);
		struct bpf_link *l = bpf_program__attach_uprobe_opts(probes[i].prog, -1, path, 0, &uo);
		if (l) {
			if (!keep_link(t, l))
				break;
			continue;
		}
		if (!probes[i].required)
			continue;
		fprintf(stderr, "heimdall-pump: note TLS not read from %s: cannot attach to %s: %s\n", path, probes[i].func, strerror(errno));
		while (t->nlinks > first)
			bpf_link__destroy(t->links[--t->nlinks]);
		return 0;
	}
	fprintf(stderr, "heimdall-pump: note TLS plaintext read from %s in %s\n", kind == TLS_GNUTLS ? "gnutls_record_recv/send" : "SSL_read/SSL_write", path);
	return 1;
}

/* A process's executable: node (OpenSSL inside) or Go (crypto/tls inside)? */
static void check_exe(struct tls_probes *t, const char *pid)
{
	char link[64], exe[512], host[800];
	snprintf(link, sizeof(link), "/proc/%s/exe", pid);
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
		attach_tls_lib(t, host, TLS_OPENSSL);
		return;
	}
	/* Held open while probing: a short-lived process may exit meanwhile, and with it the
	 * /proc/<pid>/root path; the executable's file stays reachable through this descriptor. */
	struct stat st;
	int fd;
	if (stat(link, &st) != 0 || was_seen(t->exes, t->nexes, &st) || (fd = open(link, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	/* Marked only once open: a process that exits between the stat and the open (a short-lived
	 * client) must not leave its executable marked but never looked at. */
	if (fstat(fd, &st) != 0 || seen_file(t->exes, &t->nexes, MAX_EXES, &st)) {
		close(fd);
		return;
	}
	char held[64];
	snprintf(held, sizeof(held), "/proc/self/fd/%d", fd);
	attach_go_exe(t, held, host);
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
 * the process's own root (containers included). */
void tls_probes_scan(struct tls_probes *t)
{
	DIR *proc = opendir("/proc");
	struct dirent *d;
	char maps[300], line[512], host[800];
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
			if (strstr(path, " (deleted)"))
				continue;
			snprintf(host, sizeof(host), "/proc/%s/root%s", d->d_name, path);
			attach_tls_lib(t, host, is_gnutls ? TLS_GNUTLS : TLS_OPENSSL);
			openssl |= is_openssl; /* one of each per process */
			gnutls |= is_gnutls;
		}
		fclose(f);
		check_exe(t, d->d_name);
	}
	closedir(proc);
}


struct tls_probes *tls_probes_start(struct http_capture *skel)
{
	struct tls_probes *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->skel = skel;
	const char *host_lib = first_readable(LIBSSL_PATHS);
	if (host_lib)
		attach_tls_lib(t, host_lib, TLS_OPENSSL);
	else
		fprintf(stderr, "heimdall-pump: note no libssl.so.3 on the host; TLS read only from libraries processes have loaded\n");
	if ((host_lib = first_readable(LIBGNUTLS_PATHS)))
		attach_tls_lib(t, host_lib, TLS_GNUTLS);
	for (int i = 0; NODE_PATHS[i]; i++)
		if (access(NODE_PATHS[i], R_OK) == 0)
			attach_tls_lib(t, NODE_PATHS[i], TLS_OPENSSL);
	tls_probes_scan(t);
	return t;
}

void tls_probes_free(struct tls_probes *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->nlinks; i++)
		bpf_link__destroy(t->links[i]);
	free(t->links);
	free(t);
}
