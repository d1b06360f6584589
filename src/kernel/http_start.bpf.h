/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Does a socket carry HTTP? Told once per connection from its first payload's first four
 * bytes (or a joinable HTTP/2 HEADERS frame); everything else costs that peek and no record.
 * Part of http_capture.bpf.c: one object, included in order.
 */
#ifndef HEIMDALL_HTTP_START_BPF_H
#define HEIMDALL_HTTP_START_BPF_H

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

#endif /* HEIMDALL_HTTP_START_BPF_H */
