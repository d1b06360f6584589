/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * TLS plaintext of Go programs: crypto/tls.(*Conn).Write and Read, found by the pump in each Go
 * executable's function table (src/native/go_tls.c). Go 1.17+ passes arguments in registers
 * (ABIInternal, amd64): the receiver in RAX, the slice's pointer and length in RBX and RCX, the
 * current goroutine in R14; results come back in RAX (n) and RBX/RCX (error).
 *
 * Write is read at its entry: the plaintext is in its argument. Read's plaintext exists only once
 * it returns, and a uretprobe cannot be used on Go (it swaps the return address on the stack for
 * a trampoline's, which the runtime's stack walks for GC and stack growth reject). Instead the
 * pump probes each of Read's RET instructions (found in its code and checked against the
 * function table's stack offsets, src/native/go_tls.c); the entry keeps the buffer per goroutine
 * until one of them is reached.
 *
 * The socket comes from the Conn itself: tls.Conn.conn (a net.Conn: type word, data word) ->
 * *net.TCPConn -> conn.fd (*net.netFD) -> pfd (poll.FD) -> Sysfd, checked against the netFD's
 * other fields (go_conn_fd).
 */
#ifndef HEIMDALL_GO_TLS_BPF_H
#define HEIMDALL_GO_TLS_BPF_H

struct go_g {
	__u32 tgid;
	__u32 pad;
	__u64 g;
};

struct go_read {
	__u64 start_ns;
	__u64 conn;
	__u64 buf;
};

/* A Read in progress, per goroutine (goroutines move between threads while they wait). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_g);
	__type(value, struct go_read);
} go_reads SEC(".maps");

/* Processes that have just exec'd: the pump looks at their executable at once (is it Go, or
 * node?) rather than at its next scan of /proc, so that a new service's first calls are read. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} exec_req SEC(".maps");

/* Wakes the pump for exec_req; a ring of its own so that the main ring's wake-ups stay batched. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} wakes SEC(".maps");

/* Set when the pump was woken, cleared by the pump as it serves exec_req: one wake-up per
 * round however many processes exec meanwhile, and none lost. */
__u32 exec_pending = 0;

SEC("tracepoint/sched/sched_process_exec")
int on_exec(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u8 one = 1;
	if (!tls_enabled)
		return 0;
	bpf_map_update_elem(&exec_req, &tgid, &one, BPF_ANY); /* again at a second exec (setsid, env) */
	if (!exec_pending) {
		__u32 kind = HD_EV_WAKE;
		exec_pending = 1;
		bpf_ringbuf_output(&wakes, &kind, sizeof(kind), BPF_RB_FORCE_WAKEUP);
	}
	return 0;
}

#if defined(__TARGET_ARCH_x86)

/* net.netFD as Go lays it out (checked with 1.19 and 1.26): poll.FD first (Sysfd at 16; IsStream at 48 and
 * isFile at 50, after the pollDesc, iovecs and semaphores), then family and sotype. */
struct go_netfd {
	__u8 fdmu[16];
	__s64 sysfd;
	__u8 mid[24];
	__u8 is_stream;
	__u8 zero_read_is_eof;
	__u8 is_file;
	__u8 pad[5];
	__s64 family;
	__s64 sotype;
};

/* The socket behind a *tls.Conn, or -1. The netFD's own fields must say "TCP stream socket":
 * a Conn over some other net.Conn (a wrapper type) would otherwise yield whatever number sits
 * there, possibly another open socket of the process. */
static __always_inline int go_conn_fd(__u64 conn)
{
	__u64 data = 0, netfd = 0;
	struct go_netfd f;
	if (bpf_probe_read_user(&data, sizeof(data), (void *)(conn + 8)) || !data)
		return -1;
	if (bpf_probe_read_user(&netfd, sizeof(netfd), (void *)data) || !netfd)
		return -1;
	if (bpf_probe_read_user(&f, sizeof(f), (void *)netfd))
		return -1;
	if (f.is_stream != 1 || f.is_file != 0 || f.sotype != SOCK_STREAM || (f.family != AF_INET && f.family != AF_INET6))
		return -1;
	return f.sysfd >= 0 && f.sysfd < (1 << 24) ? (int)f.sysfd : -1;
}

static __always_inline int go_plaintext(__u64 conn, __u64 buf, long n, __u64 start_ns, __u8 direction)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (n <= 0)
		return 0;
	int fd = go_conn_fd(conn);
	struct sock_info *s = fd >= 0 ? sock_of(id >> 32, fd) : NULL;
	if (!s) {
		count(HD_STAT_TLS_NO_SOCKET);
		return 0;
	}
	return tls_plaintext(id, s, fd, buf, n, start_ns, direction);
}

SEC("uprobe")
int go_tls_write(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (bpf_map_lookup_elem(&excluded, &tgid))
		return 0;
	__u64 now = bpf_ktime_get_ns();
	return go_plaintext(ctx->ax, ctx->bx, (long)ctx->cx, now, HD_DIR_EGRESS);
}

SEC("uprobe")
int go_tls_read(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (bpf_map_lookup_elem(&excluded, &tgid))
		return 0;
	struct go_g key = { .tgid = tgid, .g = ctx->r14 };
	struct go_read r = { .start_ns = bpf_ktime_get_ns(), .conn = ctx->ax, .buf = ctx->bx };
	bpf_map_update_elem(&go_reads, &key, &r, BPF_ANY);
	return 0;
}

/* At each of Read's RET instructions: the byte count is in RAX. */
SEC("uprobe")
int go_tls_read_ret(struct pt_regs *ctx)
{
	struct go_g key = { .tgid = bpf_get_current_pid_tgid() >> 32, .g = ctx->r14 };
	struct go_read *rp = bpf_map_lookup_elem(&go_reads, &key);
	if (!rp)
		return 0;
	struct go_read r = *rp;
	bpf_map_delete_elem(&go_reads, &key);
	return go_plaintext(r.conn, r.buf, (long)ctx->ax, r.start_ns, HD_DIR_INGRESS);
}

#else /* Go's register ABI is read on amd64 only: the programs load, the pump never attaches them */

SEC("uprobe")
int go_tls_write(struct pt_regs *ctx) { return 0; }
SEC("uprobe")
int go_tls_read(struct pt_regs *ctx) { return 0; }
SEC("uprobe")
int go_tls_read_ret(struct pt_regs *ctx) { return 0; }

#endif
#endif
