// SPDX-License-Identifier: Apache-2.0
/*
 * heimdall-pump: the thin native part of the agent. It loads and attaches the probe,
 * moves raw ring-buffer records to stdout as length-prefixed frames, and adds a stats
 * frame every second. It parses nothing: all HTTP work happens in TypeScript.
 *
 * Frames: u32 length (little endian, bytes that follow) + payload. Payloads start with a
 * u32 kind (enum hd_event_kind): kernel records as is, plus HELLO and STATS.
 * Errors: one line on stderr "heimdall-pump: error <errno> <where>: <reason>", exit code 1.
 * Notes (not errors): "heimdall-pump: note <text>" lines on stderr, e.g. where TLS is read.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "http_capture.h"
#include "http_capture.skel.h"
#include "go_tls.h"

static volatile sig_atomic_t exiting;
static int write_failed;

static void on_signal(int sig) { (void)sig; exiting = 1; }

static int fail(int err, const char *where, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "heimdall-pump: error %d %s: ", err, where);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_WARN || getenv("HEIMDALL_PUMP_DEBUG"))
		return vfprintf(stderr, fmt, args);
	return 0;
}

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

struct tls_state {
	struct http_capture *skel;
	struct file_id seen[MAX_TLS_LIBS];
	int nseen;
	struct file_id exes[MAX_EXES];
	int nexes;
	struct bpf_link **links;
	int nlinks, caplinks;
};

static bool keep_link(struct tls_state *t, struct bpf_link *l)
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
	for (int i = 0; i < *n; i++)
		if (set[i].dev == st->st_dev && set[i].ino == st->st_ino)
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
static void attach_go_exe(struct tls_state *t, const char *path, const char *name)
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
static int attach_tls_lib(struct tls_state *t, const char *path, enum tls_lib kind)
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
static void check_exe(struct tls_state *t, const char *pid)
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
static void serve_execs(struct tls_state *t)
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
static void scan_tls_libs(struct tls_state *t)
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

/* Frames leave in writes of up to 1 MiB. Not stdio: its lock and copy per fwrite() were a third
 * of the pump's time (perf); this buffer halved the pump's CPU per request. */
static char outbuf[1 << 20];
static size_t outlen;

static void flush_out(void)
{
	size_t off = 0;
	while (off < outlen && !write_failed) {
		ssize_t n = write(STDOUT_FILENO, outbuf + off, outlen - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) { /* a non-blocking pipe: wait until the reader takes some */
			struct pollfd p = { .fd = STDOUT_FILENO, .events = POLLOUT };
			poll(&p, 1, 1000);
			continue;
		}
		if (n <= 0) {
			write_failed = 1;
			exiting = 1;
			break;
		}
		off += (size_t)n;
	}
	outlen = 0;
}

static void frame(const void *data, __u32 len)
{
	if (write_failed)
		return;
	if (outlen + sizeof(len) + len > sizeof(outbuf))
		flush_out(); /* a record is at most a few KiB: one always fits an empty buffer */
	memcpy(outbuf + outlen, &len, sizeof(len));
	memcpy(outbuf + outlen + sizeof(len), data, len);
	outlen += sizeof(len) + len;
}

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	frame(data, (__u32)size);
	return 0;
}

static int on_wake(void *ctx, void *data, size_t size)
{
	(void)ctx, (void)data, (void)size; /* the loop serves exec_req when this ring wakes it */
	return 0;
}

static long now_ms_since(const struct timespec *t)
{
	struct timespec n;
	clock_gettime(CLOCK_MONOTONIC, &n);
	return (n.tv_sec - t->tv_sec) * 1000 + (n.tv_nsec - t->tv_nsec) / 1000000;
}

static __s64 mono_offset_ns(void)
{
	struct timespec rt, mono;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	return ((__s64)rt.tv_sec - mono.tv_sec) * 1000000000LL + ((__s64)rt.tv_nsec - mono.tv_nsec);
}

static void emit_stats(struct http_capture *skel, int ncpus, int prog_stats)
{
	struct hd_stats st = { .kind = HD_EV_STATS, .realtime_offset_ns = mono_offset_ns() };
	__u64 values[ncpus];
	for (__u32 k = 0; k < HD_STAT_MAX; k++) {
		if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.stats), &k, values))
			continue;
		for (int c = 0; c < ncpus; c++)
			st.counters[k] += values[c];
	}
	if (prog_stats) {
		struct bpf_program *p;
		bpf_object__for_each_program(p, skel->obj) {
			struct bpf_prog_info info = {};
			__u32 len = sizeof(info);
			if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) == 0) {
				st.prog_run_ns += info.run_time_ns;
				st.prog_run_cnt += info.run_cnt;
				st.nprogs++;
			}
		}
	}
	frame(&st, sizeof(st));
}

static void ensure_mounts(void)
{
	struct stat s;
	if (stat("/sys/kernel/tracing/events", &s) != 0)
		mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL);
	if (stat("/sys/fs/bpf", &s) == 0)
		mount("bpf", "/sys/fs/bpf", "bpf", 0, NULL); /* EBUSY when already mounted: fine */
}

/*
 * How long records may wait in the ring when fewer than wakeup_bytes (2 MiB) arrive. The agent
 * costs less per record in larger bursts (its caches are cold after each sleep): at 10k req/s
 * it woke every ~30 ms with 256 KiB and 50 ms, every ~220 ms now, for ~9% less CPU (median of
 * 7 alternating rounds, 19.7% -> 17.9% of a core per 10k req/s). The server sees records up
 * to a quarter of a second later; batches wait up to AGENT_FLUSH_INTERVAL (2 s) anyway.
 */
#define POLL_TIMEOUT_MS 250

int main(int argc, char **argv)
{
	unsigned long capture = 1024, ring_bytes = 8 << 20, wakeup = 2 << 20, stats_ms = 1000;
	int prog_stats = 0, tls = 1, err;
	char *exclude = NULL;
	static const struct option opts[] = {
		{ "capture-bytes", required_argument, 0, 'c' },
		{ "exclude", required_argument, 0, 'x' },
		{ "ring-bytes", required_argument, 0, 'r' },
		{ "wakeup-bytes", required_argument, 0, 'w' },
		{ "stats-interval-ms", required_argument, 0, 's' },
		{ "prog-stats", no_argument, 0, 'p' },
		{ "no-tls", no_argument, 0, 'n' },
		{ 0, 0, 0, 0 },
	};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c': capture = strtoul(optarg, NULL, 10); break;
		case 'x': exclude = optarg; break;
		case 'r': ring_bytes = strtoul(optarg, NULL, 10); break;
		case 'w': wakeup = strtoul(optarg, NULL, 10); break;
		case 's': stats_ms = strtoul(optarg, NULL, 10); break;
		case 'p': prog_stats = 1; break;
		case 'n': tls = 0; break;
		default: return fail(EINVAL, "usage", "see the header of src/native/pump.c");
		}
	}
	if (capture < 16 || capture > HD_MAX_CAPTURE)
		return fail(EINVAL, "capture-bytes", "must be 16..%d", HD_MAX_CAPTURE);
	if (ring_bytes < 4096 || (ring_bytes & (ring_bytes - 1)))
		return fail(EINVAL, "ring-bytes", "must be a power of two >= 4096");
	if (wakeup > ring_bytes / 4)
		wakeup = ring_bytes / 4; /* room left for records while the reader wakes up */

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	libbpf_set_print(libbpf_quiet);

	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
		return fail(ENOENT, "btf", "/sys/kernel/btf/vmlinux is missing: the kernel was built without BTF (CONFIG_DEBUG_INFO_BTF=y is needed)");
	ensure_mounts();

	struct http_capture *skel = http_capture__open();
	if (!skel)
		return fail(errno, "open", "cannot open the BPF object: %s", strerror(errno));
	skel->rodata->capture_bytes = (__u32)capture;
	skel->rodata->wakeup_bytes = wakeup;
	skel->rodata->tls_enabled = (__u8)tls;
	bpf_map__set_max_entries(skel->maps.events, (__u32)ring_bytes);
	skel->rodata->ring_bytes = ring_bytes;
	int possible = libbpf_num_possible_cpus();
	if (possible <= 0) {
		http_capture__destroy(skel);
		return fail(-possible, "cpus", "cannot count the possible CPUs: %s", strerror(-possible));
	}
	bpf_map__set_max_entries(skel->maps.scratch_map, (__u32)possible);

	err = http_capture__load(skel);
	if (err) {
		err = -err;
		fail(err, "load", "%s%s", strerror(err),
		     err == EPERM ? " (run as root, or grant CAP_BPF + CAP_PERFMON + CAP_SYS_RESOURCE)"
				  : " (the probe needs Linux 5.11 or later: BPF ring buffer, task storage, BTF task pointer)");
		http_capture__destroy(skel);
		return 1;
	}
	if (exclude) {
		char *save = NULL;
		for (char *t = strtok_r(exclude, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			__u32 pid = (__u32)strtoul(t, NULL, 10);
			__u8 one = 1;
			if (pid)
				bpf_map_update_elem(bpf_map__fd(skel->maps.excluded), &pid, &one, BPF_ANY);
		}
	}
	__u32 self = (__u32)getpid();
	__u8 one = 1;
	bpf_map_update_elem(bpf_map__fd(skel->maps.excluded), &self, &one, BPF_ANY);

	int stats_fd = -1;
	if (prog_stats)
		stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);

	err = http_capture__attach(skel);
	if (err) {
		err = -err;
		fail(err, "attach", "cannot attach the syscall tracepoints: %s (is tracefs at /sys/kernel/tracing?)", strerror(err));
		http_capture__destroy(skel);
		return 1;
	}

	static struct tls_state tls_state;
	tls_state.skel = skel;
	if (tls) {
		const char *host_lib = first_readable(LIBSSL_PATHS);
		if (host_lib)
			attach_tls_lib(&tls_state, host_lib, TLS_OPENSSL);
		else
			fprintf(stderr, "heimdall-pump: note no libssl.so.3 on the host; TLS read only from libraries processes have loaded\n");
		if ((host_lib = first_readable(LIBGNUTLS_PATHS)))
			attach_tls_lib(&tls_state, host_lib, TLS_GNUTLS);
		for (int i = 0; NODE_PATHS[i]; i++)
			if (access(NODE_PATHS[i], R_OK) == 0)
				attach_tls_lib(&tls_state, NODE_PATHS[i], TLS_OPENSSL);
		scan_tls_libs(&tls_state);
	}

	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_record, NULL, NULL);
	if (!rb) {
		err = errno;
		http_capture__destroy(skel);
		return fail(err, "ringbuf", "cannot open the ring buffer: %s", strerror(err));
	}

	int ncpus = libbpf_num_possible_cpus();
	struct hd_hello hello = {
		.kind = HD_EV_HELLO, .version = 1, .realtime_offset_ns = mono_offset_ns(),
		.capture_bytes = (__u32)capture, .ncpus = (__u32)ncpus,
	};
	frame(&hello, sizeof(hello));
	flush_out();

	/* Exec requests come through a ring of their own, so that serving them does not hand the
	 * agent a small burst of the main ring each time (its cost per record is lower in large,
	 * rare bursts: see POLL_TIMEOUT_MS). Both rings' epoll sets are watched through one. */
	struct ring_buffer *wakes = ring_buffer__new(bpf_map__fd(skel->maps.wakes), on_wake, NULL, NULL);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev_main = { .events = EPOLLIN, .data.u32 = 0 }, ev_wake = { .events = EPOLLIN, .data.u32 = 1 };
	if (!wakes || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ring_buffer__epoll_fd(rb), &ev_main) ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, ring_buffer__epoll_fd(wakes), &ev_wake)) {
		err = errno;
		http_capture__destroy(skel);
		return fail(err, "ringbuf", "cannot watch the ring buffers: %s", strerror(err));
	}

	struct timespec last, now;
	clock_gettime(CLOCK_MONOTONIC, &last);
	struct timespec last_scan = last, last_drain = last;
	while (!exiting) {
		/* Records arrive without wakeups until wakeup_bytes are waiting; the timeout bounds latency. */
		long since = now_ms_since(&last_drain);
		struct epoll_event evs[2];
		int n = epoll_wait(ep, evs, 2, since >= POLL_TIMEOUT_MS ? 0 : (int)(POLL_TIMEOUT_MS - since));
		if (n < 0 && errno != EINTR) {
			fail(errno, "poll", "%s", strerror(errno));
			break;
		}
		bool drain = now_ms_since(&last_drain) >= POLL_TIMEOUT_MS;
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == 0) {
				drain = true;
				continue;
			}
			skel->bss->exec_pending = 0; /* before serving: an exec from now on wakes again */
			ring_buffer__poll(wakes, 0);
			serve_execs(&tls_state);
		}
		if (drain) {
			err = ring_buffer__poll(rb, 0); /* clears the ring's readiness, then takes the rest */
			if (err < 0 && err != -EINTR) {
				fail(-err, "poll", "%s", strerror(-err));
				break;
			}
			ring_buffer__consume(rb);
			clock_gettime(CLOCK_MONOTONIC, &last_drain);
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000 >= (long)stats_ms) {
			emit_stats(skel, ncpus, prog_stats);
			last = now;
		}
		/* New containers bring their own libssl; processes that exec'd before the probe ran: look every 10 s. */
		if (tls && now.tv_sec - last_scan.tv_sec >= 10) {
			scan_tls_libs(&tls_state);
			last_scan = now;
		}
		flush_out();
	}
	ring_buffer__consume(rb);
	emit_stats(skel, ncpus, prog_stats);
	/* The reader is done once the output ends; detaching the probes below takes seconds
	 * (each perf event's close waits ~30 ms here) and need not hold it up. */
	flush_out();
	close(STDOUT_FILENO);
	ring_buffer__free(rb);
	ring_buffer__free(wakes);
	close(ep);
	for (int i = 0; i < tls_state.nlinks; i++)
		bpf_link__destroy(tls_state.links[i]);
	free(tls_state.links);
	http_capture__destroy(skel);
	if (stats_fd >= 0)
		close(stats_fd);
	return 0;
}
