/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Message starts that come in pieces of under four bytes, in syscalls or in gathered writes.
 * Part of http_capture.bpf.c: one object, included in order.
 */
#ifndef HEIMDALL_SPLIT_START_BPF_H
#define HEIMDALL_SPLIT_START_BPF_H

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
	/* The other side spoke while a start waits. An HTTP/2 server sends its SETTINGS before a
	 * client's preface ("PR", "I * HTTP/2.0…") is through: those bytes are judged alone and the
	 * start stays kept. Two short payloads crossing are no message start. */
	int other = s->pre_len && s->pre_dir != dir;
	if (other && n < 4) {
		s->pre_len = 0;
		count(HD_STAT_SKIPPED);
		return 0;
	}
	__u32 have = other ? 0 : s->pre_len;
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
	if (!looks_http(word)) {
		if (!other)
			s->pre_len = 0;
		count(HD_STAT_SKIPPED);
		return 0;
	}
	s->pre_len = 0;
	mark_http(s, word);
	if (s->h2 && have)
		h2_open(s, dir, have); /* the syscall that completed "PRI " starts inside the preface */
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

#endif /* HEIMDALL_SPLIT_START_BPF_H */
