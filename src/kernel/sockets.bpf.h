/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which (process, fd) is a TCP socket, cached per socket in `socks` with the state the other
 * parts keep on it; and the small helpers every program uses (the per-CPU scratch record, the
 * stats counters). Part of http_capture.bpf.c: one object, included in order.
 */
#ifndef HEIMDALL_SOCKETS_BPF_H
#define HEIMDALL_SOCKETS_BPF_H

static __always_inline struct scratch *scratch_get(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&scratch_map, &cpu);
}

static __always_inline void count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &stat);
	if (v)
		*v += 1;
}

/* The struct file behind fd. Pointer walks through the BTF task pointer are plain loads
 * (fault-safe), not helper calls; only the indexed fd array needs bpf_probe_read_kernel. */
static __always_inline __u64 fd_file(int fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = task->files->fdt;
	unsigned int max_fds = fdt->max_fds;
	struct file **fds = fdt->fd;
	struct file *file = NULL;

	if (fd < 0 || (unsigned int)fd >= max_fds)
		return 0;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	return (__u64)file;
}

/* Heimdall's own processes by the title they give themselves ("heimdall server", "heimdall
 * agent", "heimdall up"): in a cluster the agent does not know the server's pid, and the
 * server's ingest, API and database traffic must not be recorded. */
static __always_inline int heimdall_thread(void)
{
	char comm[16];
	__u64 w;
	if (bpf_get_current_comm(comm, sizeof(comm)))
		return 0;
	__builtin_memcpy(&w, comm, 8);
	return w == 0x6c6c61646d696568ULL /* "heimdall" */ && comm[8] == ' ';
}

/* Socket of (tgid, fd), cached; NULL when the fd is not a TCP socket (or is Heimdall's). */
static __always_inline struct sock_info *sock_of(__u32 tgid, int fd)
{
	struct sock_key key = { .tgid = tgid, .fd = fd };
	struct sock_info *cached = bpf_map_lookup_elem(&socks, &key);
	__u64 file = fd_file(fd);

	if (!file)
		return NULL;
	if (cached && cached->file == file)
		return cached->tcp ? cached : NULL;

	struct sock_info info = { .file = file };
	struct file *f = (struct file *)file;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	/* Checked once per socket, as it is first used: cached like any non-TCP fd. */
	if ((mode & S_IFMT) == S_IFSOCK && !heimdall_thread()) {
		struct socket *so = BPF_CORE_READ(f, private_data);
		struct sock *sk = BPF_CORE_READ(so, sk);
		__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
		if (sk && BPF_CORE_READ(sk, sk_type) == SOCK_STREAM &&
		    BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP &&
		    (family == AF_INET || family == AF_INET6)) {
			info.tcp = 1;
			info.sk = (__u64)sk;
			info.family = family;
			info.lport = BPF_CORE_READ(sk, __sk_common.skc_num);
			info.rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
			if (family == AF_INET) {
				bpf_core_read(info.laddr, 4, &sk->__sk_common.skc_rcv_saddr);
				bpf_core_read(info.raddr, 4, &sk->__sk_common.skc_daddr);
			} else {
				bpf_core_read(info.laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
				bpf_core_read(info.raddr, 16, &sk->__sk_common.skc_v6_daddr);
			}
		}
	}
	bpf_map_update_elem(&socks, &key, &info, BPF_ANY);
	if (!info.tcp)
		return NULL;
	return bpf_map_lookup_elem(&socks, &key);
}

/* TLS records (17 03 0x) on a socket no hooked SSL call has claimed: HTTPS through a library
 * the agent cannot read (Go, Java, BoringSSL). A hooked library's TLS 1.3 handshake looks the
 * same for a few records, so a connection counts once it is clearly more than a handshake, or
 * at its close if no SSL call ever claimed it. Counted per connection, in tls_opaque. */
#define HD_OPAQUE_SURE 8
static __always_inline void note_opaque(struct sock_info *s)
{
	if (s->opaque == 0xff)
		return;
	if (++s->opaque >= HD_OPAQUE_SURE) {
		s->opaque = 0xff;
		count(HD_STAT_TLS_OPAQUE);
	}
}

#endif /* HEIMDALL_SOCKETS_BPF_H */
