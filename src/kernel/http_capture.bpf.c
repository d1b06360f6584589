// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * HTTP capture from syscall tracepoints only: no kprobes or fentry, which kernels
 * like ours lack. Entry saves the arguments of reads and writes on TCP sockets; exit copies
 * the head of the payload into the ring buffer. Connections whose first bytes are not an
 * HTTP/1 request or status line or HTTP/2's client preface are skipped in the kernel, so
 * databases and ciphertext cost a 4-byte peek, not a ring-buffer record.
 *
 * TLS: uprobes on libssl's SSL_read/SSL_write (and _ex) copy the plaintext instead. The
 * socket is the one the syscall made inside the SSL call used (remembered per SSL object for
 * calls served from OpenSSL's buffer); syscalls inside SSL calls carry ciphertext and are
 * never recorded.
 *
 * One object on purpose: the syscall and TLS programs share the socket cache, the SSL maps and
 * the ring buffer, and one skeleton keeps the loader a pump. This file holds the settings, the
 * maps and the syscall programs; the parts it includes, in order: sockets.bpf.h (the socket
 * cache), http_start.bpf.h (is it HTTP?), h2_walk.bpf.h and h1_walk.bpf.h (heads past the
 * window), emit.bpf.h (the record), split_start.bpf.h (starts of under four bytes),
 * ssl_uprobes.bpf.h and go_tls.bpf.h (TLS plaintext).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "http_capture.h"

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define IPPROTO_TCP 6
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define MSG_PEEK 2

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Settings the loader fills in before load. */
const volatile __u32 capture_bytes = 1024;
const volatile __u64 wakeup_bytes = 2 * 1024 * 1024;
/* Off: the SSL uprobes are not attached, and syscalls skip the in-SSL-call lookup. */
const volatile __u8 tls_enabled = 0;
/* The ring's size (the loader sets both). */
const volatile __u64 ring_bytes = 8 * 1024 * 1024;
/* When an HTTP/2 record last went into the ring: HTTP/1 gives way to HTTP/2 only while there is
 * some (a node without HTTP/2 keeps the whole ring for HTTP/1). */
__u64 h2_seen_ns = 0;
#define H2_RECENT_NS (60ULL * 1000 * 1000 * 1000)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HD_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* Processes never captured: the agent, its pump, the server. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u8);
} excluded SEC(".maps");

enum hd_buf_kind { BUF_PLAIN = 0, BUF_IOV = 1, BUF_NONE = 2, BUF_KERNEL = 3 /* a copy in a map */ };

struct hd_args {
	__u64 start_ns;
	__u64 buf;    /* user pointer: buffer or iovec array */
	__u32 iovcnt; /* BUF_IOV: the iovec count; BUF_KERNEL: the bytes the copy holds */
	__s32 fd;
	__u8 direction;
	__u8 buf_kind;
	__u8 active;  /* set at syscall entry, cleared at exit */
	__s32 last_read_fd1; /* the TCP socket this thread last read from, plus one (0: none) */
};

/*
 * The syscall in progress on a thread, in task-local storage: a get is a pointer chase where
 * a hash map's update + lookup + delete cost ~250 ns per syscall (measured with
 * bpf_enable_stats). Storage goes away with the task.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct hd_args);
} inflight SEC(".maps");

struct sock_key {
	__u32 tgid;
	__s32 fd;
};

struct sock_info {
	__u64 file;   /* struct file * the fd pointed at when resolved: detects fd reuse */
	__u64 sk;
	__u8 tcp;     /* 0: not a TCP socket (negative cache) */
	__u8 http;    /* saw an HTTP/1 request or status line */
	__u8 tls;     /* plaintext comes from SSL_read/SSL_write: the syscalls carry ciphertext */
	__u8 lost;    /* a record of this socket was lost: the next one says so */
	__u8 h2;      /* opened with HTTP/2's preface: frames of many streams share a syscall */
	__u8 connect; /* a CONNECT went by: its 2xx turns the connection into a tunnel */
	__u8 opaque;  /* TLS records seen outside any hooked SSL call (0xff: counted) */
	__u8 h2_sync[2]; /* HTTP/2, per direction: frames followed, h2_next is known (h2_walk.bpf.h) */
	__u8 h2_have[2]; /* ...a frame header cut by the last syscall's end: its bytes seen */
	__u8 h2_hdr[2][4]; /* ...and the first of them (length, type) */
	__u8 h2_kept[2]; /* ...the frame going on into the next syscall is a header block or control frame */
	__u32 h2_next[2]; /* ...where the next frame header starts in the next syscall's bytes */
	__u16 family;
	__u16 lport;
	__u16 rport;
	__u8 laddr[16];
	__u8 raddr[16];
	/* A message start split into syscalls of under 4 bytes ("GE" then "T / HTTP/1.1…", a client
	 * writing byte by byte): its bytes so far, until four say whether it is HTTP (split_start). */
	__u8 pre[4];
	__u8 pre_len;
	__u8 pre_dir;
	__u64 pre_ns;
	/* HTTP/1 messages past the window: last, so that the fields every record copies keep their cache lines. */
	__u8 h1_sync[2]; /* HTTP/1, per direction: messages followed (H1_IN_BODY, H1_IN_HEAD: h1_walk.bpf.h) */
	__u8 h1_hflags[2]; /* ...a head cut by the last syscall: what it showed */
	__u16 h1_status[2];
	__u32 h1_hline[2]; /* ...bytes of its last line so far */
	__u8 h1_pipelined; /* ...two requests went by with no answer between: answers may share reads */
	__u16 h1_reqs;   /* ...syscalls that started a request, and an answer: the difference is */
	__u16 h1_resps;  /*    how many requests at least are waiting */
	__u64 h1_next[2]; /* ...the message's bytes still to come: the next one starts after them */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct sock_key);
	__type(value, struct sock_info);
} socks SEC(".maps");

/* Processes with a socket that carried HTTP: their exit is reported (HD_EV_EXIT). A process
 * that exits without close() (busybox httpd's children, CGI and inetd servers, short-lived
 * clients) ends its connections there, and a body read until close is complete. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} http_procs SEC(".maps");

/* An SSL_read/SSL_write in progress on a thread. */
struct ssl_args {
	__u64 start_ns;
	__u64 buf;
	__u64 ex_len;  /* _ex variants: where the byte count is written */
	__u64 ssl;
	__s32 fd;      /* socket of the syscall made inside the call, -1 until one is */
	__u8 direction;
	__u8 active;   /* between the uprobe and the uretprobe */
	/* An SSL_write whose socket is not known yet is held in ssl_pending (below). */
	__u8 pend;
	__s32 flush_fd; /* the socket a syscall entry found it belongs to (held_write) */
};

/* Task-local like the syscall arguments: every traced syscall asks whether it runs inside an
 * SSL call, so this lookup must be cheap; a thread that dies inside a call leaves nothing. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ssl_args);
} ssl_inflight SEC(".maps");

/* An SSL_write whose socket is not known yet: a memory-BIO user (Node) encrypts first and
 * writes the ciphertext after the call, in the thread's next write to a TCP socket, where
 * this is emitted. The plaintext is copied: the caller may free it once the call returns. */
struct ssl_pending {
	__u64 start_ns;
	__u64 ssl;
	__u32 len;
	__u32 copied;
	/* Up to HD_MAX_CAPTURE bytes are kept; the rest of the room only bounds appends for the
	 * verifier (an offset and a length each below HD_MAX_CAPTURE). */
	__u8 data[HD_MAX_CAPTURE * 2];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ssl_pending);
} ssl_pending_writes SEC(".maps");

/* Processes whose TLS plaintext a hook has delivered: a connection of theirs that closes with
 * only handshake records on it (Go dials spare connections and closes them unused) is not
 * HTTPS left unread, and is not counted in tls_opaque. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} tls_readers SEC(".maps");

/* The padding is a named field so that every initializer zeroes it: a hash key's bytes are
 * compared whole, and unnamed padding is whatever the stack held (SSL_free's delete missed). */
struct ssl_key {
	__u32 tgid;
	__u32 pad;
	__u64 ssl;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ssl_key);
	__type(value, __s32);
} ssl_fds SEC(".maps");

/* HTTP/2 frames past the capture window (h2_walk.bpf.h): one walk per CPU at a time. */
struct h2_walk {
	__u64 buf;      /* user buffer, iovec array, or kernel copy (BUF_KERNEL) */
	__u32 iovcnt;
	__u32 kind;     /* enum hd_buf_kind */
	__u32 ret;      /* bytes of the syscall */
	__u32 avail;    /* bytes that can be read (BUF_KERNEL: only what was copied) */
	__u32 head;     /* P: contiguous head in data[] */
	__u32 pos;      /* next frame header, from the syscall's first byte */
	__u32 out;      /* end of what data[] holds */
	__u32 appended; /* frames appended */
	__u32 base;     /* this record covers the syscall's bytes from here (earlier parts went out) */
	__u32 cut_have; /* a frame header cut by the syscall's end: its bytes here */
	__u8 cut_hdr[4];
	int desync;
	__u32 last_kept; /* the last frame's payload is one user space reads */
	/* iovec cursor: iov_i covers [iov_start, iov_start + iov_len) of the payload */
	__u32 iov_i;
	__u32 iov_start;
	__u32 iov_len;
	__u64 iov_base;
	__u32 seek_pos; /* h2_seek's target */
	__u32 seek_found;
	__u64 carry;    /* h1_walk: bytes of the last message past this syscall */
	__u64 h1_length; /* h1_walk, a head cut by a syscall's end (resumed, or cut here): its Content-Length so far */
	__u32 h1_hline;  /* ...bytes of its last line so far */
	__u16 h1_status;
	__u8 h1_hflags;
	__u8 h1_resume;
	__u8 h1_cut;
	__u8 h1_dir;    /* h1_heads: the direction followed */
};

/* h1_walk.bpf.h: one head being scanned. Kept in the scratch record rather than on h1_step's
 * stack: the BPF stack limit (512 bytes) counts the whole call chain, bpf_loop callbacks
 * included, and ssl_exit() -> h1_heads -> h1_step -> h1_scan_step came to 528 on 6.18.44. */
struct h1_scan {
	__u32 at;       /* the head's first byte in data[] */
	__u32 n;        /* bytes of it there */
	__u32 line;     /* where the current line starts, from at (wraps below 0 for a line begun in the last syscall) */
	__u32 head_len; /* up to and with the blank line; 0 until it is found */
	__u64 length;   /* Content-Length */
	__u8 has_length;
	__u8 unframed;  /* Transfer-Encoding, or a Content-Length that is no number or not one value */
	__u8 headers;   /* past the status line */
	__u8 line_before; /* the current line began in the last syscall... */
	__u8 first_cr;    /* ...with a '\r' */
};

struct scratch {
	struct hd_event ev;
	__u8 data[HD_MAX_CAPTURE * 8]; /* masked offsets and lengths always fit (h2_walk.bpf.h: H2_OUT) */
	struct h2_walk walk;
	struct h1_scan h1;
};

/* One record under construction per CPU, indexed by CPU: a per-CPU map's values stop at
 * 32 KiB. The loader sets max_entries to the number of possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

#include "sockets.bpf.h"

static __always_inline void emit_pending_write(struct ssl_args *t, int fd, struct sock_info *s, __u64 only_ssl);

/* The held-back SSL_write's flush (held_write below), reached by a tail call: inlined, its emit()
 * was verified again in each of the six syscall entries that write (~0.3 s each on 6.18.44). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} held_write_prog SEC(".maps");

static __always_inline int enter(void *ctx, int fd, __u64 buf, __u32 iovcnt, __u8 direction, __u8 buf_kind)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;

	if (bpf_map_lookup_elem(&excluded, &tgid))
		return 0;
	struct sock_info *s = sock_of(tgid, fd);
	if (!s)
		return 0;
	struct ssl_args *t = tls_enabled ? bpf_task_storage_get(&ssl_inflight, bpf_get_current_task_btf(), NULL, 0) : NULL;
	/* Only a socket with no history can be the held-back write's: one already carrying HTTP
	 * or TLS belongs to another connection (say, a write Node queued earlier). */
	int flush = t && t->pend && direction == HD_DIR_EGRESS && !s->tls && !s->http;
	if (t && t->active) {
		/* Ciphertext of the SSL call in progress: only its socket is of use. */
		t->fd = fd;
	} else {
		struct hd_args *a = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), NULL, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (!a) {
			count(HD_STAT_ARGS_FULL);
			s->lost = 1; /* this syscall's bytes will be missing from the stream */
		} else {
			/* A read's entry time is not used (its bytes count from when they arrived, the
			 * exit), and the clock costs ~90 ns a call on this VM: only writes take it. */
			a->start_ns = direction == HD_DIR_EGRESS ? bpf_ktime_get_ns() : 0;
			a->buf = buf;
			a->iovcnt = iovcnt;
			a->fd = fd;
			a->direction = direction;
			a->buf_kind = buf_kind;
			a->active = 1;
		}
	}
	/* The held-back bytes go out here, at this syscall's entry: before its own record (made
	 * at its exit), so the stream stays in order. A tail call does not come back. */
	if (flush && t) {
		t->flush_fd = fd;
		bpf_tail_call(ctx, &held_write_prog, 0);
	}
	return 0;
}

/* "GET ", "POST", "HTTP", …: the first four bytes of an HTTP/1 request or status line
 * (every method head.ts knows has its prefix here), or of HTTP/2's client preface. */
#include "http_start.bpf.h"

#include "h2_walk.bpf.h"
#include "h1_walk.bpf.h"

#include "emit.bpf.h"
#include "split_start.bpf.h"

static __always_inline int exit_(long ret)
{
	struct hd_args *ap = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), NULL, 0);
	struct hd_args a;

	if (!ap || !ap->active)
		return 0;
	a = *ap;
	ap->active = 0;
	if (ret <= 0)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();

	__u32 tgid = id >> 32;
	struct sock_key key = { .tgid = tgid, .fd = a.fd };
	struct sock_info *s = bpf_map_lookup_elem(&socks, &key);
	if (!s || !s->tcp)
		return 0;
	if (a.direction == HD_DIR_INGRESS)
		ap->last_read_fd1 = a.fd + 1; /* SSL_read in a memory-BIO user decrypts what this read brought */

	/* First user buffer: the plain buffer, or the first iovec's. */
	__u64 first = a.buf;
	__u64 first_len = (__u64)ret;
	struct iovec iov0 = {};
	if (a.buf_kind == BUF_IOV) {
		if (a.iovcnt == 0 || bpf_probe_read_user(&iov0, sizeof(iov0), (void *)a.buf))
			return 0;
		first = (__u64)iov0.iov_base;
		first_len = iov0.iov_len;
	}

	if (!s->http) {
		__u32 head = 0;
		if (a.buf_kind == BUF_NONE) {
			count(HD_STAT_SKIPPED);
			return 0;
		}
		/* (TLS sockets' split starts are the plaintext's: see tls_plaintext) */
		if (!s->tls && !s->pre_len && a.buf_kind == BUF_IOV && first_len < 4 && ret >= 4) {
			if (iov_head4(a.buf, a.iovcnt, &iov0, &head) || !starts_http(s, head, (void *)first, first_len, (__u64)ret, 0)) {
				count(HD_STAT_SKIPPED);
				return 0;
			}
		} else if (!s->tls && (s->pre_len || ret < 4 || first_len < 4)) {
			/* One emit() below for both ways in: each copy is verified again in every exit
			 * program (a second one here doubled the probe's load time). */
			if (!split_start(a.fd, a.start_ns, first, split_args(first_len < (__u64)ret ? first_len : (__u64)ret, a.direction, 0)))
				return 0;
		} else if (bpf_probe_read_user(&head, 4, (void *)first)) {
			count(HD_STAT_SKIPPED);
			return 0;
		} else if (!starts_http(s, head, (void *)first, first_len, (__u64)ret, 0)) {
			count(HD_STAT_SKIPPED);
			if (!s->tls && (head & 0xffff) == 0x0317 && ((head >> 16) & 0xff) <= 4)
				note_opaque(s);
			return 0;
		}
	}

	if (s->tls)
		return 0; /* ciphertext: the plaintext comes from the SSL uprobes */
	return emit(id, &a, s, ret, &iov0, 0, 1);
}

/* msghdr → its iovec array, read at entry while the caller's memory is certainly valid. */
static __always_inline int enter_msg(void *ctx, int fd, struct user_msghdr *msg, __u8 direction)
{
	struct user_msghdr m = {};
	if (bpf_probe_read_user(&m, sizeof(m), msg))
		return 0;
	return enter(ctx, fd, (__u64)m.msg_iov, (__u32)m.msg_iovlen, direction, BUF_IOV);
}

#define ARG(ctx, i) ((ctx)->args[i])

SEC("tracepoint/syscalls/sys_enter_read")
int sys_enter_read(struct trace_event_raw_sys_enter *ctx)
{ return enter(ctx, (int)ARG(ctx, 0), ARG(ctx, 1), 0, HD_DIR_INGRESS, BUF_PLAIN); }
/* MSG_PEEK reads see bytes that a later read returns again: only the later one counts. */
SEC("tracepoint/syscalls/sys_enter_recvfrom")
int sys_enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{ return (ARG(ctx, 3) & MSG_PEEK) ? 0 : enter(ctx, (int)ARG(ctx, 0), ARG(ctx, 1), 0, HD_DIR_INGRESS, BUF_PLAIN); }
SEC("tracepoint/syscalls/sys_enter_readv")
int sys_enter_readv(struct trace_event_raw_sys_enter *ctx)
{ return enter(ctx, (int)ARG(ctx, 0), ARG(ctx, 1), (__u32)ARG(ctx, 2), HD_DIR_INGRESS, BUF_IOV); }
SEC("tracepoint/syscalls/sys_enter_recvmsg")
int sys_enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{ return (ARG(ctx, 2) & MSG_PEEK) ? 0 : enter_msg(ctx, (int)ARG(ctx, 0), (struct user_msghdr *)ARG(ctx, 1), HD_DIR_INGRESS); }
SEC("tracepoint/syscalls/sys_enter_write")
int sys_enter_write(struct trace_event_raw_sys_enter *ctx)
{ return enter(ctx, (int)ARG(ctx, 0), ARG(ctx, 1), 0, HD_DIR_EGRESS, BUF_PLAIN); }
SEC("tracepoint/syscalls/sys_enter_sendto")
int sys_enter_sendto(struct trace_event_raw_sys_enter *ctx)
{ return enter(ctx, (int)ARG(ctx, 0), ARG(ctx, 1), 0, HD_DIR_EGRESS, BUF_PLAIN); }
SEC("tracepoint/syscalls/sys_enter_writev")
int sys_enter_writev(struct trace_event_raw_sys_enter *ctx)
{ return enter(ctx, (int)ARG(ctx, 0), ARG(ctx, 1), (__u32)ARG(ctx, 2), HD_DIR_EGRESS, BUF_IOV); }
SEC("tracepoint/syscalls/sys_enter_sendmsg")
int sys_enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{ return enter_msg(ctx, (int)ARG(ctx, 0), (struct user_msghdr *)ARG(ctx, 1), HD_DIR_EGRESS); }
SEC("tracepoint/syscalls/sys_enter_sendfile64")
int sys_enter_sendfile64(struct trace_event_raw_sys_enter *ctx)
{ return enter(ctx, (int)ARG(ctx, 0), 0, 0, HD_DIR_EGRESS, BUF_NONE); }

/* splice moves bytes between a socket and a pipe without user memory (proxies use it for
 * bodies): like sendfile, only the count is seen, which keeps body framing exact. */
SEC("tracepoint/syscalls/sys_enter_splice")
int sys_enter_splice(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (sock_of(tgid, (int)ARG(ctx, 2)))
		return enter(ctx, (int)ARG(ctx, 2), 0, 0, HD_DIR_EGRESS, BUF_NONE);
	return enter(ctx, (int)ARG(ctx, 0), 0, 0, HD_DIR_INGRESS, BUF_NONE);
}

/* One program for every data syscall's exit (read, recvfrom, readv, recvmsg, write, sendto,
 * writev, sendmsg, sendfile64, splice): exit_() reads only the return value, which all their
 * tracepoints carry at the same place. The pump attaches it to the other nine (pump.c,
 * EXIT_TRACEPOINTS); the kernel verifies it once instead of ten times (~0.5 s each on 6.18.44). */
SEC("tracepoint/syscalls/sys_exit_read")
int sys_exit_data(struct trace_event_raw_sys_exit *ctx) { return exit_(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_close")
int sys_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sock_key key = { .tgid = id >> 32, .fd = (int)ARG(ctx, 0) };
	struct sock_info *s = bpf_map_lookup_elem(&socks, &key);

	if (!s)
		return 0;
	if (s->http) {
		struct hd_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
		if (ev) {
			__builtin_memset(ev, 0, sizeof(*ev));
			ev->kind = HD_EV_CLOSE;
			ev->tgid = key.tgid;
			ev->tid = (__u32)id;
			ev->fd = key.fd;
			ev->start_ns = ev->end_ns = bpf_ktime_get_ns();
			ev->sock_id = s->sk;
			bpf_ringbuf_submit(ev, 0);
			count(HD_STAT_EVENTS);
		} else {
			count(HD_STAT_RINGBUF_FULL);
		}
	}
	if (s->opaque && s->opaque != 0xff && !s->tls && !bpf_map_lookup_elem(&tls_readers, &key.tgid))
		count(HD_STAT_TLS_OPAQUE);
	bpf_map_delete_elem(&socks, &key);
	return 0;
}

/* The last thread of a process that used HTTP is exiting: its files are closed next, without
 * close() calls. signal->live has already counted this thread out (on every kernel; the
 * tracepoint's own group_dead field is recent). */
SEC("tracepoint/sched/sched_process_exit")
int sched_process_exit(void *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;

	if (BPF_CORE_READ(task, signal, live.counter) != 0 || !bpf_map_lookup_elem(&http_procs, &tgid))
		return 0;
	bpf_map_delete_elem(&http_procs, &tgid);
	struct hd_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count(HD_STAT_RINGBUF_FULL);
		return 0;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->kind = HD_EV_EXIT;
	ev->tgid = tgid;
	ev->tid = (__u32)id;
	ev->fd = -1;
	ev->start_ns = ev->end_ns = bpf_ktime_get_ns();
	bpf_ringbuf_submit(ev, 0);
	count(HD_STAT_EVENTS);
	return 0;
}

#include "ssl_uprobes.bpf.h"

#include "go_tls.bpf.h"
