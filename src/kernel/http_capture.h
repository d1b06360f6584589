/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Event layout shared by the BPF program, the native pump and (mirrored, with a size
 * test) src/agent/capture/event-layout.ts. This file is the single source of truth.
 */
#ifndef HEIMDALL_HTTP_CAPTURE_H
#define HEIMDALL_HTTP_CAPTURE_H

#define HD_MAX_CAPTURE 8192  /* power of two: bounds every copy for the verifier */
#define HD_MAX_IOV 8
#define HD_COMM_LEN 16

enum hd_event_kind {
	HD_EV_DATA = 1,  /* bytes read or written on a TCP socket */
	HD_EV_CLOSE = 2, /* close() of a socket that carried HTTP */
	HD_EV_WAKE = 3,  /* in the wakes ring: the pump has execs to look at (exec_req) */
	HD_EV_EXIT = 4,  /* the last thread of a process that used HTTP exits (its sockets close unseen) */
	/* frames the pump adds in user space */
	HD_EV_HELLO = 100,
	HD_EV_STATS = 101,
};

enum hd_direction {
	HD_DIR_INGRESS = 0, /* read/recv: bytes arrived */
	HD_DIR_EGRESS = 1,  /* write/send/sendfile: bytes left */
};

enum hd_stat {
	HD_STAT_EVENTS = 0,        /* records submitted */
	HD_STAT_RINGBUF_FULL = 1,  /* records lost: ring buffer full */
	HD_STAT_SKIPPED = 2,       /* TCP payloads skipped: connection not HTTP */
	HD_STAT_ARGS_FULL = 3,     /* syscalls missed: no task storage for their arguments (memory) */
	HD_STAT_TLS = 4,           /* TLS plaintext records (SSL_read/SSL_write uprobes) */
	HD_STAT_TLS_NO_SOCKET = 5, /* TLS calls whose socket was never seen (no syscall inside yet) */
	HD_STAT_TLS_OPAQUE = 6,    /* TLS connections no hooked library decrypted (Go, Java, BoringSSL) */
	HD_STAT_MAX = 7,
};

/* flags */
#define HD_F_DATA_NONE 1 /* sendfile: the payload is not in user memory, only its length */
#define HD_F_TLS 2       /* plaintext of a TLS connection, from SSL_read/SSL_write */
#define HD_F_AFTER_LOSS 4 /* records of this socket were lost (ring buffer full) just before this one */
#define HD_F_PIECES 8    /* data[] is the payload's head, then pieces past it: HTTP/2 frames (h2_walk.bpf.h), HTTP/1 message heads (h1_walk.bpf.h) */

struct hd_event {
	__u32 kind;
	__u32 tgid;
	__u32 tid;
	__s32 fd;
	__u64 start_ns;  /* CLOCK_MONOTONIC at syscall entry (reads: at exit, as end_ns) */
	__u64 end_ns;    /* CLOCK_MONOTONIC at syscall exit */
	__u64 sock_id;   /* kernel address of struct sock: tells reused fds apart */
	__u32 len;       /* bytes the syscall moved */
	__u32 captured;  /* bytes of them that follow in data[] */
	__u16 family;    /* AF_INET or AF_INET6 */
	__u16 lport;     /* local port, host order */
	__u16 rport;     /* remote port, host order */
	__u8 direction;  /* enum hd_direction */
	__u8 flags;
	__u8 laddr[16];  /* IPv4 in the first 4 bytes */
	__u8 raddr[16];
	char comm[HD_COMM_LEN];
	/* __u8 data[captured] follows */
};

struct hd_hello {
	__u32 kind;         /* HD_EV_HELLO */
	__u32 version;
	__s64 realtime_offset_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC */
	__u32 capture_bytes;
	__u32 ncpus;
};

struct hd_stats {
	__u32 kind;         /* HD_EV_STATS */
	__u32 nprogs;
	__u64 counters[HD_STAT_MAX];
	__u64 prog_run_ns;  /* summed bpf run time when --prog-stats is on */
	__u64 prog_run_cnt;
	__s64 realtime_offset_ns; /* again: NTP moves the wall clock, the monotonic one does not */
};

#endif
