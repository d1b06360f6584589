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
#include <errno.h>
#include <stdbool.h>
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
#include "tls_probes.h"
#include "rcu_fast.h"

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

/* The data syscalls' exits besides sys_exit_read (the program's own section, attached with the
 * skeleton): one program serves them all (http_capture.bpf.c, sys_exit_data). */
static const char *const EXIT_TRACEPOINTS[] = {
	"sys_exit_recvfrom", "sys_exit_readv", "sys_exit_recvmsg", "sys_exit_write", "sys_exit_sendto",
	"sys_exit_writev", "sys_exit_sendmsg", "sys_exit_sendfile64", "sys_exit_splice",
};

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
		{ "no-fast-attach", no_argument, 0, 'f' },
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
		case 'f': rcu_fast_enable(false); break;
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

	if (tls)
		tls_probes_prepare(skel);
	bpf_program__set_autoattach(skel->progs.held_write, false); /* reached by a tail call only */
	struct timespec load_start, load_end;
	clock_gettime(CLOCK_MONOTONIC, &load_start);
	err = http_capture__load(skel);
	clock_gettime(CLOCK_MONOTONIC, &load_end);
	if (err) {
		err = -err;
		/* As root, EACCES is the verifier refusing a program (its log went to stderr above):
		 * kernels differ in what they count (6.18.44 counts bpf_loop callbacks' stack). */
		fail(err, "load", "%s%s", strerror(err),
		     err == EPERM ? " (run as root, or grant CAP_BPF + CAP_PERFMON + CAP_SYS_RESOURCE)"
		     : err == EACCES && geteuid() == 0 ? " (the kernel's verifier refused a program of the probe: its log is above; please report it with `uname -r`)"
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
	/* The kernel's verifier sets the pace: 1 s on one kernel, 3 s on another (DEVELOPERS.md). */
	fprintf(stderr, "heimdall-pump: note probe verified and loaded in %.1f s\n",
		(double)(load_end.tv_sec - load_start.tv_sec) + (double)(load_end.tv_nsec - load_start.tv_nsec) / 1e9);
	__u32 zero = 0;
	int held_fd = bpf_program__fd(skel->progs.held_write);
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.held_write_prog), &zero, &held_fd, BPF_ANY)) {
		err = errno;
		http_capture__destroy(skel);
		return fail(err, "load", "cannot fill the tail-call table: %s", strerror(err));
	}
	__u32 self = (__u32)getpid();
	__u8 one = 1;
	bpf_map_update_elem(bpf_map__fd(skel->maps.excluded), &self, &one, BPF_ANY);

	int stats_fd = -1;
	if (prog_stats)
		stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);

	err = http_capture__attach(skel);
	for (size_t i = 0; !err && i < sizeof(EXIT_TRACEPOINTS) / sizeof(EXIT_TRACEPOINTS[0]); i++)
		if (!bpf_program__attach_tracepoint(skel->progs.sys_exit_data, "syscalls", EXIT_TRACEPOINTS[i]))
			err = -errno; /* the links go with the process */
	if (err) {
		err = -err;
		fail(err, "attach", "cannot attach the syscall tracepoints: %s (is tracefs at /sys/kernel/tracing?)", strerror(err));
		http_capture__destroy(skel);
		return 1;
	}

	struct tls_probes *tls_probes = tls ? tls_probes_start(skel) : NULL;

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
			if (tls_probes)
				tls_probes_serve_execs(tls_probes);
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
		if (tls_probes && now.tv_sec - last_scan.tv_sec >= 10) {
			tls_probes_scan(tls_probes);
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
	tls_probes_free(tls_probes);
	http_capture__destroy(skel);
	if (stats_fd >= 0)
		close(stats_fd);
	return 0;
}
