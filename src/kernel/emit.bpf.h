/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A record into the ring buffer: who, which socket, when, how many bytes, and the payload's
 * first bytes (a plain buffer, iovecs, or a kernel copy), with HTTP/1 and HTTP/2 heads past the
 * window appended (h1_walk.bpf.h, h2_walk.bpf.h). Also the held-back SSL_write of a memory-BIO
 * TLS user, shipped once its socket shows itself. Part of http_capture.bpf.c: one object,
 * included in order.
 */
#ifndef HEIMDALL_EMIT_BPF_H
#define HEIMDALL_EMIT_BPF_H

/* Node 24 names its main thread "MainThread", which says nothing: name the executable
 * instead (a process that exits before the agent reads /proc keeps this name). */
static __always_inline void name_generic_thread(char *comm)
{
	__u64 head;
	__u32 tail;
	__builtin_memcpy(&head, comm, 8);
	__builtin_memcpy(&tail, comm + 8, 4);
	if (head != 0x657268546e69614dULL /* "MainThre" */ || (tail & 0xffffff) != 0x6461 /* "ad\0" */)
		return;
	struct task_struct *task = bpf_get_current_task_btf();
	const unsigned char *name = BPF_CORE_READ(task, mm, exe_file, f_path.dentry, d_name.name);
	if (name)
		bpf_probe_read_kernel_str(comm, 16, name);
}

/* Appends the head of one iovec to the record (up to `want` bytes in all): bytes copied, or -1. */
static __always_inline long append_iov(struct scratch *sc, struct iovec *iov, __u32 got, __u32 want)
{
	__u32 n = want - got;
	if (n > iov->iov_len)
		n = iov->iov_len;
	if (n > HD_MAX_CAPTURE)
		n = HD_MAX_CAPTURE;
	asm volatile("" : "+r"(n));
	/* A no-op (n <= HD_MAX_CAPTURE) that gives the verifier a bound it keeps; data[] has room for off + n. */
	n &= (HD_MAX_CAPTURE * 2 - 1);
	__u32 off = got & (HD_MAX_CAPTURE - 1);
	if (bpf_probe_read_user(sc->data + off, n, iov->iov_base))
		return -1;
	return n;
}

/* Past the first HD_MAX_IOV, iovecs are copied in a bpf_loop: HTTP/2 writers (Node, nghttp2)
 * hand each frame header and payload over as its own iovec, and Varnish writes an HTTP/1 head
 * as four iovecs per header line ("Server", ": ", "Varnish", "\r\n"). */
#define HD_MAX_IOV_LOOP 256

struct iov_ctx {
	__u64 buf;
	__u32 iovcnt;
	__u32 got;
	__u32 want;
};

static long copy_more_iov(__u32 j, void *c)
{
	struct iov_ctx *x = c;
	__u32 i = j + HD_MAX_IOV;
	struct scratch *sc = scratch_get();
	struct iovec iov = {};
	if (!sc || i >= x->iovcnt || x->got >= x->want)
		return 1;
	if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(x->buf + (__u64)i * sizeof(iov))))
		return 1;
	long n = append_iov(sc, &iov, x->got, x->want);
	if (n < 0)
		return 1;
	x->got += n;
	return 0;
}

/* Is "h2c" (any case) in the first n bytes of the record just copied? A 101 that carries it
 * is an upgrade to HTTP/2, whose frames follow on the same socket (rare: one search per 101). */
struct h2c_ctx {
	__u32 n;
	int found;
};

static long find_h2c(__u32 i, void *c)
{
	struct h2c_ctx *x = c;
	struct scratch *sc = scratch_get();
	if (!sc || i + 3 > x->n)
		return 1;
	__u32 j = i & (HD_MAX_CAPTURE - 1);
	if ((sc->data[j] | 0x20) == 'h' && sc->data[j + 1] == '2' && (sc->data[j + 2] | 0x20) == 'c') {
		x->found = 1;
		return 1;
	}
	return 0;
}

/* Copies the head of the payload (buffer or iovecs) into a ring-buffer record. */
/* A record's header: who, which socket, when, how many bytes. */
static __always_inline void fill_event(struct hd_event *ev, __u64 id, struct hd_args *a, struct sock_info *s, long ret)
{
	ev->kind = HD_EV_DATA;
	ev->tgid = id >> 32;
	ev->tid = (__u32)id;
	ev->fd = a->fd;
	ev->end_ns = bpf_ktime_get_ns();
	ev->start_ns = a->start_ns ? a->start_ns : ev->end_ns; /* reads: see enter() */
	ev->sock_id = s->sk;
	ev->len = (__u32)ret;
	ev->family = s->family;
	ev->lport = s->lport;
	ev->rport = s->rport;
	ev->direction = a->direction;
	ev->flags = (a->buf_kind == BUF_NONE ? HD_F_DATA_NONE : 0) | (s->lost ? HD_F_AFTER_LOSS : 0);
	__builtin_memcpy(ev->laddr, s->laddr, 16);
	__builtin_memcpy(ev->raddr, s->raddr, 16);
	/* The process's name (its main thread's), as /proc/<pid>/comm gives it, not the calling
	 * thread's ("default-executo", gRPC's; "HttpClient-1-Wo", Java's): a process that exits
	 * before the agent reads /proc is known by what its records say. */
	struct task_struct *task = bpf_get_current_task_btf();
	if (bpf_probe_read_kernel(ev->comm, sizeof(ev->comm), task->group_leader->comm))
		bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	name_generic_thread((char *)ev->comm);
}

/* h1: follow HTTP/1 messages past the window (h1_walk.bpf.h). A constant at each call: where it
 * is 0 (an SSL_write held back, shipped from a syscall's entry) the walk is not part of the
 * program, which then loads faster (each program that can reach it verifies it again). */
static __always_inline int emit(__u64 id, struct hd_args *a, struct sock_info *s, long ret, struct iovec *iov0, __u8 extra_flags, int h1)
{
	struct scratch *sc = scratch_get();
	if (!sc)
		return 0;
	struct hd_event *ev = &sc->ev;
	fill_event(ev, id, a, s, ret);
	ev->flags |= extra_flags;

	/* HTTP/2 packs frames of many streams into one syscall: a frame header past the window
	 * would be lost, so its sockets get the largest window. */
	__u32 want = s->h2 ? HD_MAX_CAPTURE : capture_bytes;
	if (want > HD_MAX_CAPTURE)
		want = HD_MAX_CAPTURE;
	/* Under ring pressure an HTTP/2 record whose frames are followed keeps just them (the walk
	 * appends every frame header and header block): DATA payloads are most of its bytes, and a
	 * lost HTTP/2 record costs its connection's header tables. */
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	__u8 dir = a->direction & 1;
	if (s->h2 && a->buf_kind != BUF_KERNEL && avail > ring_bytes / 2 && s->h2_sync[dir] && !s->h2_have[dir])
		want = s->h2_kept[dir] ? (s->h2_next[dir] < want ? s->h2_next[dir] : want) : 0;
	if ((__u64)ret < want)
		want = (__u32)ret;
	if (a->buf_kind == BUF_KERNEL && want > a->iovcnt)
		want = a->iovcnt; /* a kernel copy holds a->iovcnt bytes; past them is stale */
	__u32 got = 0;

	if (a->buf_kind == BUF_PLAIN || a->buf_kind == BUF_KERNEL) {
		__u32 n = want;
		if (n > HD_MAX_CAPTURE)
			n = HD_MAX_CAPTURE;
		asm volatile("" : "+r"(n));
		n &= (HD_MAX_CAPTURE * 2 - 1);
		long err = a->buf_kind == BUF_KERNEL ? bpf_probe_read_kernel(sc->data, n, (void *)a->buf) : bpf_probe_read_user(sc->data, n, (void *)a->buf);
		if (err == 0)
			got = n;
	} else if (a->buf_kind == BUF_IOV) {
		int failed = 0;
#pragma unroll
		for (int i = 0; i < HD_MAX_IOV; i++) {
			struct iovec iov = {};
			if (i >= a->iovcnt || got >= want)
				break;
			if (i == 0)
				iov = *iov0;
			else if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(a->buf + i * sizeof(iov)))) {
				failed = 1;
				break;
			}
			long n = append_iov(sc, &iov, got, want);
			if (n < 0) {
				failed = 1;
				break;
			}
			got += n;
		}
		if (!failed && a->iovcnt > HD_MAX_IOV && got < want) {
			struct iov_ctx x = { .buf = a->buf, .iovcnt = a->iovcnt, .got = got, .want = want };
			bpf_loop(HD_MAX_IOV_LOOP - HD_MAX_IOV, copy_more_iov, &x, 0);
			got = x.got;
		}
	}
	if (got > HD_MAX_CAPTURE)
		got = HD_MAX_CAPTURE;
	int framed = 0;
	if (s->h2) {
		got = h2_frames(sc, s, a, iov0, (__u32)ret, got, &framed);
		/* Parts shipped on the way (h2_flush) covered the syscall's bytes up to walk.base. */
		ev->len = (__u32)ret - sc->walk.base;
	} else if (h1 && h1_wanted(sc, s, a->direction & 1, a->buf_kind, (__u32)ret, got)) {
		__u32 r = h1_heads(s, a, iov0, (__u32)ret, got);
		framed = !!(r & H1_FRAMED);
		got = r & ~H1_FRAMED;
		if (got > H2_OUT + 4)
			got = 0; /* never: said for the verifier, which knows nothing of a global function's result */
	}
	if (framed)
		ev->flags |= HD_F_PIECES;
	else
		ev->flags &= ~HD_F_PIECES;
	ev->captured = got;

	/* Wake the reader only when a batch is waiting: per-event wakeups cost more than the capture. */
	__u64 flags = avail >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	/* The ring's last quarter is kept for HTTP/2: a lost HTTP/1 record costs the exchanges it
	 * touched, a lost HTTP/2 one the connection's header tables, so every later grpc-status
	 * (a table entry) of a long-lived channel. */
	int give_way = !s->h2 && avail > ring_bytes - ring_bytes / 4 && ev->end_ns - h2_seen_ns < H2_RECENT_NS;
	if (s->h2 && ev->end_ns - h2_seen_ns > 1000000000ULL)
		h2_seen_ns = ev->end_ns; /* once a second at most: every CPU reads this line */
	__u64 size = sizeof(struct hd_event) + got;
	asm volatile("" : "+r"(size));
	if (size > sizeof(struct scratch))
		return 0;
	/* A lost record leaves a hole in the connection's byte stream: user space must not pair
	 * across it, so the socket's next record carries HD_F_AFTER_LOSS. */
	if (give_way || bpf_ringbuf_output(&events, sc, size, flags)) {
		count(HD_STAT_RINGBUF_FULL);
		s->lost = 1;
	} else {
		count(HD_STAT_EVENTS);
		s->lost = 0;
	}
	/* Past a 101 or a CONNECT's 2xx the connection speaks something else (WebSocket, a TLS
	 * tunnel): the socket goes back to the 4-byte peek instead of shipping every frame. */
	if (got >= 13) {
		__u32 w0, w1;
		__builtin_memcpy(&w0, sc->data, 4);
		__builtin_memcpy(&w1, sc->data + 4, 4);
		/* Whole words ("CONNECT ", "HTTP/1.x NNN "): a body that merely starts alike must not
		 * turn capture off in the middle of a message. */
		if (w0 == 0x4e4e4f43 /* "CONN" */ && w1 == 0x20544345 /* "ECT " */) {
			s->connect = 1;
		} else if (w0 == 0x50545448 /* "HTTP" */ && (w1 & 0xffffff) == 0x2e312f /* "/1." */ && sc->data[8] == ' ' && (sc->data[12] == ' ' || sc->data[12] == '\r')) {
			__u8 c = sc->data[9];
			if (c == '1' && sc->data[10] == '0' && sc->data[11] == '1') {
				struct h2c_ctx x = { .n = got < 512 ? got : 512 };
				bpf_loop(512, find_h2c, &x, 0);
				s->h2 = x.found; /* h2c: HTTP/2 from here on, with its capture window */
				s->http = x.found;
			} else if (c == '2' && s->connect) {
				s->http = 0;
				s->h2 = 0;
			}
			if (c != '1')
				s->connect = 0;
		}
	}
	return 0;
}

/* The SSL_write held back until its socket showed itself (ssl_pending): fd is that socket.
 * only_ssl: flush only if it belongs to that SSL object (0: whichever it is). */
static __always_inline void emit_pending_write(struct ssl_args *t, int fd, struct sock_info *s, __u64 only_ssl)
{
	struct ssl_pending *p = bpf_task_storage_get(&ssl_pending_writes, bpf_get_current_task_btf(), NULL, 0);
	if (!p || (only_ssl && p->ssl != only_ssl))
		return;
	t->pend = 0;
	__u64 id = bpf_get_current_pid_tgid();
	struct ssl_key k = { .tgid = id >> 32, .ssl = p->ssl };
	__s32 f = fd;
	bpf_map_update_elem(&ssl_fds, &k, &f, BPF_ANY);
	s->tls = 1;
	if (!s->http) {
		__u32 head = 0;
		__builtin_memcpy(&head, p->data, 4);
		if (p->copied < 4 || !starts_http(s, head, p->data, p->copied, p->len, 1)) {
			count(HD_STAT_SKIPPED);
			return;
		}
	}
	struct hd_args a = {
		.start_ns = p->start_ns,
		.buf = (__u64)p->data,
		.iovcnt = p->copied, /* BUF_KERNEL: the bytes the copy holds */
		.fd = fd,
		.direction = HD_DIR_EGRESS,
		.buf_kind = BUF_KERNEL,
	};
	struct iovec none = {};
	count(HD_STAT_TLS);
	/* Only what was copied can be captured; ev->len still says what the call wrote. */
	emit(id, &a, s, p->len, &none, HD_F_TLS, 0);
}

/* Tail-called from enter() (held_write_prog, filled by the pump): ships the held-back SSL_write
 * on the socket a syscall entry that writes just showed. */
SEC("tracepoint")
int held_write(struct trace_event_raw_sys_enter *ctx)
{
	struct ssl_args *t = bpf_task_storage_get(&ssl_inflight, bpf_get_current_task_btf(), NULL, 0);
	if (!t || !t->pend)
		return 0;
	int fd = t->flush_fd;
	struct sock_info *s = sock_of(bpf_get_current_pid_tgid() >> 32, fd);
	if (s)
		emit_pending_write(t, fd, s, 0);
	return 0;
}

#endif /* HEIMDALL_EMIT_BPF_H */
