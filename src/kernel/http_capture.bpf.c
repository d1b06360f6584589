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
 * One object on purpose, though long: the syscall and TLS programs share the socket cache,
 * the SSL maps and the ring buffer, and one skeleton keeps the loader a pump.
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
			a->start_ns = bpf_ktime_get_ns();
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
static __always_inline int looks_http(__u32 w)
{
	switch (w) {
	case 0x20544547: /* "GET " */
	case 0x54534f50: /* "POST" */
	case 0x20545550: /* "PUT " */
	case 0x44414548: /* "HEAD" */
	case 0x454c4544: /* "DELE" */
	case 0x43544150: /* "PATC" */
	case 0x4954504f: /* "OPTI" */
	case 0x4e4e4f43: /* "CONN" */
	case 0x43415254: /* "TRAC" */
	case 0x50545448: /* "HTTP" */
	/* WebDAV, CalDAV and cache purges: the methods the parser knows beyond RFC 9110's */
	case 0x504f5250: /* "PROP" */
	case 0x4f434b4d: /* "MKCO" */
	case 0x59504f43: /* "COPY" */
	case 0x45564f4d: /* "MOVE" */
	case 0x4b434f4c: /* "LOCK" */
	case 0x4f4c4e55: /* "UNLO" */
	case 0x52414553: /* "SEAR" */
	case 0x47525550: /* "PURG" */
	case 0x4f504552: /* "REPO" */
	case 0x41434b4d: /* "MKCA" */
	/* QUERY, the rest of the IANA registry and of Node's parser (one word of capitals) */
	case 0x52455551: /* "QUER" */
	case 0x204c4341: /* "ACL " */
	case 0x444e4942: /* "BIND" */
	case 0x49424552: /* "REBI" */
	case 0x49424e55: /* "UNBI" */
	case 0x4b4e494c: /* "LINK" */
	case 0x494c4e55: /* "UNLI" */
	case 0x43454843: /* "CHEC" */
	case 0x48434e55: /* "UNCH" */
	case 0x4542414c: /* "LABE" */
	case 0x4752454d: /* "MERG" */
	case 0x43414b4d: /* "MKAC" */
	case 0x4f574b4d: /* "MKWO" */
	case 0x4544524f: /* "ORDE" */
	case 0x41445055: /* "UPDA" */
	case 0x49544f4e: /* "NOTI" */
	case 0x53425553: /* "SUBS" */
	case 0x55534e55: /* "UNSU" */
	case 0x52554f53: /* "SOUR" */
	/* HTTP/2's client preface ("PRI * HTTP/2.0"), by prior knowledge or after ALPN */
	case 0x20495250: /* "PRI " */
		return 1;
	}
	return 0;
}

/* The calling process uses HTTP: its exit will be reported. Once per connection, and a lookup
 * first, as most connections belong to a process already known. */
static __always_inline void note_http_proc(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u8 one = 1;

	if (!bpf_map_lookup_elem(&http_procs, &tgid))
		bpf_map_update_elem(&http_procs, &tgid, &one, BPF_ANY);
}

/* The socket carries HTTP from now on; HTTP/2 is told by its preface (or by h2_midstream). */
static __always_inline void mark_http(struct sock_info *s, __u32 head)
{
	s->http = 1;
	s->h2 = head == 0x20495250;
	note_http_proc();
}

/* An HTTP/2 connection already open when capture started shows no preface. A syscall that
 * starts with a whole HEADERS frame of a client-initiated stream (9-byte header: length below
 * 16 KiB, END_HEADERS, only HEADERS' flags, odd stream id) is taken as one; user space checks
 * the frames that follow and decodes what the header tables allow. `head` is the first four
 * bytes, already read: the other five are read only when those fit (a zero length byte and
 * type 1), so other traffic pays nothing more. */
static __always_inline int h2_midstream(struct sock_info *s, __u32 head, const void *buf, __u64 first_len, __u64 total, int kernel)
{
	__u8 h[9];
	if ((head & 0xff) != 0 || (head >> 24) != 1 || first_len < 9 || total < 10)
		return 0;
	if (kernel ? bpf_probe_read_kernel(h, 9, buf) : bpf_probe_read_user(h, 9, buf))
		return 0;
	__u32 len = ((__u32)h[1] << 8) | h[2];
	__u32 sid = ((__u32)h[5] << 24) | ((__u32)h[6] << 16) | ((__u32)h[7] << 8) | h[8];
	if (!(h[4] & 0x04) || (h[4] & ~0x2d) || len == 0 || len > 16384 || 9 + len > total || !(sid & 1) || (sid & 0x80000000))
		return 0;
	s->http = 1;
	s->h2 = 1;
	note_http_proc();
	return 1;
}

/* Does a socket's first payload start HTTP (a request or status line, HTTP/2's preface, or a
 * joinable HTTP/2 HEADERS frame)? Marks the socket when it does. */
static __always_inline int starts_http(struct sock_info *s, __u32 head, const void *buf, __u64 first_len, __u64 total, int kernel)
{
	if (looks_http(head)) {
		mark_http(s, head);
		return 1;
	}
	return h2_midstream(s, head, buf, first_len, total, kernel);
}

#include "h2_walk.bpf.h"
#include "h1_walk.bpf.h"

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
	ev->start_ns = a->start_ns;
	ev->end_ns = bpf_ktime_get_ns();
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

/*
 * A message start that comes in syscalls of under 4 bytes: a client writing byte by byte, or a
 * reader that got only what had arrived ("GE", then "T / HTTP/1.1…"). Four bytes are needed to
 * tell HTTP, so the first ones wait in the socket's entry (at most three, all capital letters or
 * "HTTP/"'s); once four are known and say HTTP, the kept bytes go out as a record of their own,
 * then the syscall that completed them, whole (the caller ships it when this returns 1).
 * packed: the bytes in this syscall's first buffer (low byte), its direction (next byte), and the
 * kept record's flags (HD_F_TLS for plaintext).
 *
 * A global function, verified once on its own: inlined into every exit program it doubled the
 * probe's load time (each path into emit() was verified again).
 */
__noinline int split_start(int fd, __u64 start_ns, __u64 first, __u64 packed)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sock_key key = { .tgid = id >> 32, .fd = fd };
	struct sock_info *s = bpf_map_lookup_elem(&socks, &key);
	if (!s)
		return 0;
	__u32 n = packed & 0xff;
	__u8 dir = (packed >> 8) & 1;
	__u8 flags = (packed >> 16) & 0xff;
	if (s->pre_len && s->pre_dir != dir)
		s->pre_len = 0; /* the other side spoke first: not a message start */
	__u32 have = s->pre_len;
	if (have > 3)
		have = 3;
	__u32 take = 4 - have;
	if (take > n)
		take = n;
	__u8 w[12] = {}; /* have + take is at most 4; the room is for the verifier's bounds */
	__builtin_memcpy(w, s->pre, 4);
	__u32 sz = take;
	asm volatile("" : "+r"(sz));
	sz &= 7;
	if (sz == 0 || bpf_probe_read_user(w + have, sz, (void *)first)) {
		s->pre_len = 0;
		count(HD_STAT_SKIPPED);
		return 0;
	}
	if (have + take < 4) {
		/* Still short: keep the bytes while they can start a method or "HTTP/". */
		for (int i = 0; i < 3; i++) {
			if (i < have + take && !((w[i] >= 'A' && w[i] <= 'Z') || w[i] == '/' || w[i] == '_' || w[i] == '-')) {
				s->pre_len = 0;
				count(HD_STAT_SKIPPED);
				return 0;
			}
		}
		if (have == 0)
			s->pre_ns = start_ns;
		s->pre_dir = dir;
		__builtin_memcpy(s->pre, w, 4);
		s->pre_len = have + take;
		return 0;
	}
	__u32 word;
	__builtin_memcpy(&word, w, 4);
	s->pre_len = 0;
	if (!looks_http(word)) {
		count(HD_STAT_SKIPPED);
		return 0;
	}
	mark_http(s, word);
	if (have) {
		struct scratch *sc = scratch_get();
		if (!sc)
			return 0;
		struct hd_args k = { .start_ns = s->pre_ns, .fd = fd, .direction = dir, .buf_kind = BUF_KERNEL };
		fill_event(&sc->ev, id, &k, s, have);
		sc->ev.flags |= flags;
		sc->ev.captured = have;
		__builtin_memcpy(sc->data, w, 4);
		if (bpf_ringbuf_output(&events, sc, sizeof(struct hd_event) + (have & 3), BPF_RB_NO_WAKEUP)) {
			count(HD_STAT_RINGBUF_FULL);
			s->lost = 1;
		} else {
			count(HD_STAT_EVENTS);
			s->lost = 0;
		}
	}
	return 1;
}

/* split_start's last argument. */
static __always_inline __u64 split_args(__u64 n, __u8 direction, __u8 flags)
{
	return (n > 255 ? 255 : n) | ((__u64)(direction & 1) << 8) | ((__u64)flags << 16);
}

/* The first four bytes of a gathered write whose first iovec is shorter (Varnish writes "GET",
 * " ", the target, …): they tell HTTP as a plain buffer's do. 0 when four were read. */
static __always_inline int iov_head4(__u64 buf, __u32 iovcnt, struct iovec *iov0, __u32 *head)
{
	__u32 word = 0, have = 0;
#pragma unroll
	for (int i = 0; i < 4; i++) {
		struct iovec iov = {};
		if (i >= iovcnt || have >= 4)
			break;
		if (i == 0)
			iov = *iov0;
		else if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(buf + i * sizeof(iov))))
			return -1;
		__u32 n = 4 - have;
		if (n > iov.iov_len)
			n = iov.iov_len;
		asm volatile("" : "+r"(n));
		n &= 7;
		__u64 part = 0; /* n bytes, little endian: they go in at byte `have` of the word */
		if (n && bpf_probe_read_user(&part, n, iov.iov_base))
			return -1;
		word |= (__u32)(part << ((have & 3) * 8));
		have += n;
	}
	if (have < 4)
		return -1;
	*head = word;
	return 0;
}

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

/* ---- TLS: OpenSSL's SSL_read/SSL_write and their _ex variants (libssl.so.3) ---- */

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

#include "go_tls.bpf.h"
