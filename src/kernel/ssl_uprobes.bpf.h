/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * TLS plaintext from OpenSSL's SSL_read/SSL_write (and _ex), and GnuTLS's record calls, which
 * return through the same uretprobe (src/native/tls_probes.c attaches them). Part of
 * http_capture.bpf.c: one object, included in order.
 */
#ifndef HEIMDALL_SSL_UPROBES_BPF_H
#define HEIMDALL_SSL_UPROBES_BPF_H

static __always_inline int tls_plaintext(__u64 id, struct sock_info *s, int fd, __u64 buf, long n, __u64 start_ns, __u8 direction);

static __always_inline int ssl_enter(void *ssl, const void *buf, __u64 ex_len, __u8 direction)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;

	if (bpf_map_lookup_elem(&excluded, &tgid))
		return 0;
	struct ssl_args *t = bpf_task_storage_get(&ssl_inflight, bpf_get_current_task_btf(), NULL, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!t) {
		count(HD_STAT_ARGS_FULL);
		return 0;
	}
	t->start_ns = bpf_ktime_get_ns();
	t->buf = (__u64)buf;
	t->ex_len = ex_len;
	t->ssl = (__u64)ssl;
	t->fd = -1;
	t->direction = direction;
	t->active = 1;
	return 0;
}

static __always_inline int ssl_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ssl_args *tp = bpf_task_storage_get(&ssl_inflight, bpf_get_current_task_btf(), NULL, 0);
	struct ssl_args t;

	if (!tp || !tp->active)
		return 0;
	t = *tp;
	tp->active = 0;
	long n = ret;
	if (t.ex_len) {
		__u64 done = 0;
		if (ret != 1 || bpf_probe_read_user(&done, sizeof(done), (void *)t.ex_len))
			return 0;
		n = (long)done;
	}
	if (n <= 0)
		return 0;

	__u32 tgid = id >> 32;
	struct ssl_key k = { .tgid = tgid, .ssl = t.ssl };
	__s32 fd = t.fd;
	if (fd >= 0) {
		bpf_map_update_elem(&ssl_fds, &k, &fd, BPF_ANY);
	} else {
		/* Served from OpenSSL's buffer without a syscall: the socket it used last time. */
		__s32 *known = bpf_map_lookup_elem(&ssl_fds, &k);
		if (known) {
			fd = *known;
		} else if (t.direction == HD_DIR_INGRESS) {
			/* First read of a memory-BIO user (Node): it decrypts what this thread's last
			 * socket read brought, in the same call chain. */
			struct hd_args *ia = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), NULL, 0);
			if (!ia || ia->last_read_fd1 <= 0) {
				count(HD_STAT_TLS_NO_SOCKET);
				return 0;
			}
			fd = ia->last_read_fd1 - 1;
			bpf_map_update_elem(&ssl_fds, &k, &fd, BPF_ANY);
		} else {
			/* First writes of a memory-BIO user: the ciphertext goes out after this call, in
			 * the thread's next socket write (see enter()). Node encrypts an HTTP/2 session's
			 * first output (preface, SETTINGS, the first HEADERS) in several calls before that
			 * write: later ones of the same SSL object are appended while the bytes so far
			 * are whole (then only counted); another object's write takes the place. */
			struct ssl_pending *p = bpf_task_storage_get(&ssl_pending_writes, bpf_get_current_task_btf(), NULL, BPF_LOCAL_STORAGE_GET_F_CREATE);
			if (!p) {
				count(HD_STAT_ARGS_FULL);
				return 0;
			}
			if (tp->pend && p->ssl == t.ssl) {
				__u32 off = p->copied;
				if (off == p->len && off < HD_MAX_CAPTURE) {
					__u32 c = HD_MAX_CAPTURE - off;
					if ((__u64)n < c)
						c = (__u32)n;
					asm volatile("" : "+r"(off));
					asm volatile("" : "+r"(c));
					off &= HD_MAX_CAPTURE - 1;
					c &= HD_MAX_CAPTURE - 1;
					if (bpf_probe_read_user(p->data + off, c, (void *)t.buf) == 0)
						p->copied = off + c;
				}
				__u64 total = (__u64)p->len + (__u64)n;
				p->len = total > 0xffffffffULL ? 0xffffffff : (__u32)total;
				return 0;
			}
			if (tp->pend)
				count(HD_STAT_TLS_NO_SOCKET);
			/* The whole window: whether the socket speaks HTTP/2 (8 KiB) is not known yet. */
			__u32 c = HD_MAX_CAPTURE;
			if ((__u64)n < c)
				c = (__u32)n;
			asm volatile("" : "+r"(c));
			c &= (HD_MAX_CAPTURE - 1) | HD_MAX_CAPTURE;
			if (c > HD_MAX_CAPTURE || bpf_probe_read_user(p->data, c, (void *)t.buf))
				return 0;
			p->copied = c;
			p->len = n > 0xffffffffL ? 0xffffffff : (__u32)n;
			p->start_ns = t.start_ns;
			p->ssl = t.ssl;
			tp->pend = 1;
			return 0;
		}
	}
	struct sock_info *s = sock_of(tgid, fd);
	if (!s) {
		count(HD_STAT_TLS_NO_SOCKET);
		return 0;
	}
	/* A held-back write goes first, to keep the stream in order. */
	if (tp->pend)
		emit_pending_write(tp, fd, s, t.ssl);
	return tls_plaintext(id, s, fd, t.buf, n, t.start_ns, t.direction);
}

/* n bytes of plaintext at buf, read or written by a TLS library on socket fd (s). */
static __always_inline int tls_plaintext(__u64 id, struct sock_info *s, int fd, __u64 buf, long n, __u64 start_ns, __u8 direction)
{
	/* HTTP in clear before any TLS on this socket: a proxy's CONNECT, and this is the tunnel's
	 * first plaintext, which says afresh whether it is HTTP/2. */
	int tunnel = s->http && !s->tls;
	if (!s->tls) { /* once per connection */
		__u32 tgid = id >> 32;
		__u8 one = 1;
		bpf_map_update_elem(&tls_readers, &tgid, &one, BPF_ANY);
	}
	s->tls = 1;
	if (tunnel) {
		__u32 head = 0;
		if (n >= 4 && !bpf_probe_read_user(&head, 4, (void *)buf) && looks_http(head))
			mark_http(s, head);
	}
	struct hd_args a = {
		.start_ns = start_ns,
		.buf = buf,
		.fd = fd,
		.direction = direction,
		.buf_kind = BUF_PLAIN,
	};
	struct iovec none = {};
	if (!tunnel && !s->http) {
		__u32 head = 0;
		if (n < 4 || s->pre_len) {
			if (!split_start(fd, start_ns, buf, split_args((__u64)n, direction, HD_F_TLS)))
				return 0;
		} else if (bpf_probe_read_user(&head, 4, (void *)buf) || !starts_http(s, head, (void *)buf, (__u64)n, (__u64)n, 0)) {
			count(HD_STAT_SKIPPED); /* not HTTP (another protocol inside TLS) */
			return 0;
		}
	}
	count(HD_STAT_TLS);
	return emit(id, &a, s, n, &none, HD_F_TLS, 1);
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_enter, void *ssl, const void *buf, int num)
{ return ssl_enter(ssl, buf, 0, HD_DIR_EGRESS); }
/* Every TLS read and write returns here (SSL_read, SSL_write, their _ex forms, GnuTLS's): what
 * differs (direction, where an _ex count goes) was saved at entry. One program, verified once
 * (~1.4 s each on 6.18.44), attached to each return (tls_probes.c). */
SEC("uretprobe")
int BPF_KRETPROBE(ssl_ret, int ret) { return ssl_exit(ret); }
SEC("uprobe")
int BPF_KPROBE(ssl_read_enter, void *ssl, void *buf, int num)
{ return ssl_enter(ssl, buf, 0, HD_DIR_INGRESS); }
SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_enter, void *ssl, const void *buf, __u64 num, __u64 *written)
{ return ssl_enter(ssl, buf, (__u64)written, HD_DIR_EGRESS); }
SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_enter, void *ssl, void *buf, __u64 num, __u64 *readbytes)
{ return ssl_enter(ssl, buf, (__u64)readbytes, HD_DIR_INGRESS); }

/* The socket of an SSL object, when the program says it (nginx, Python): no guessing from
 * syscalls, and no stale entry when a freed SSL object's address is reused. */
SEC("uprobe")
int BPF_KPROBE(ssl_set_fd, void *ssl, int fd)
{
	struct ssl_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .ssl = (__u64)ssl };
	__s32 v = fd;
	bpf_map_update_elem(&ssl_fds, &k, &v, BPF_ANY);
	return 0;
}
SEC("uprobe")
int BPF_KPROBE(ssl_free, void *ssl)
{
	struct ssl_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .ssl = (__u64)ssl };
	bpf_map_delete_elem(&ssl_fds, &k);
	return 0;
}

#endif /* HEIMDALL_SSL_UPROBES_BPF_H */
