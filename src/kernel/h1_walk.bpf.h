/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HTTP/1 message heads past the capture window. A client that pipelines downloads and reads
 * 64 KiB at a time (apt does) gets answers that start deep inside one read: past the window
 * user space never saw them, and reported their requests unmatched. So the kernel frames each
 * direction's messages by Content-Length across syscalls and appends every head that starts
 * past the window, as HTTP/2's walk appends frames (same layout, HD_F_PIECES).
 * It starts following at an answer that goes past its syscall's window, and, on a socket that
 * pipelines (two requests started with no answer between), also at one that may go on into
 * later syscalls (1 KiB or more, or a head alone). Requests are followed the same way from a
 * syscall that goes past its window or fills a power-of-two buffer (pipelined requests read
 * 1 KiB at a time by nginx):
 *
 *   data[] = head[P] { u32 offset, u32 n, n bytes from that offset }* u32 P
 *
 * The kernel only finds where heads start; user space still frames every message itself and
 * takes a piece that is not where its own framing says a message starts as body bytes. Bodies
 * it cannot frame (chunked, read to close, a 101) end the following; so does anything that is
 * not a request or status line where one was due (the answer to a HEAD has a Content-Length
 * and no body).
 * Sockets whose answers fit their reads pay two tests: reading heads costs ~1 us each (nginx
 * answering with 1.1 KB files, BPF time per request +2.2 us when every answer was read).
 *
 * Included by http_capture.bpf.c after h2_walk.bpf.h: it uses the walk's helpers.
 */
#ifndef HEIMDALL_H1_WALK_BPF_H
#define HEIMDALL_H1_WALK_BPF_H

#define H1_MAX_HEADS 128   /* per syscall: each is kept to its length, ~250 bytes (copies shrink to the room left) */
#define H1_PEEK 2048       /* bytes copied where a head starts past the window; a longer head is cut */
#define H1_FOLLOW_MIN 1024 /* a syscall this long that starts an answer: the body may go on */

/* sock_info.h1_sync: where the next syscall starts */
#define H1_IN_BODY 1 /* h1_next bytes before the next answer */
#define H1_IN_HEAD 2 /* inside an answer's head (h1_status, h1_hflags, h1_hline; h1_next: its Content-Length) */

/* walk.h1_hflags: what a head cut by its syscall's end showed so far */
#define H1_HAS_LENGTH 1
#define H1_UNFRAMED 2
#define H1_FIRST_CR 4
#define H1_HEADERS 8

#define H1_AT(sc, k) ((sc)->data[(k) & (H2_OUT - 1)])
/* Lower case for letters; '-' and ':' have the 0x20 bit already. */
#define H1_LC(sc, k) (H1_AT(sc, k) | 0x20)

static __always_inline int h1_named(struct scratch *sc, __u32 p, const char *name, __u32 len)
{
#pragma unroll
	for (__u32 k = 0; k < 18; k++)
		if (k < len && H1_LC(sc, p + k) != (__u8)name[k])
			return 0;
	return 1;
}

static long h1_scan_step(__u32 i, void *c)
{
	struct scratch *sc = scratch_get();
	if (!sc)
		return 1;
	struct h1_scan *x = &sc->h1;
	if (i >= x->n)
		return 1;
	if (H1_AT(sc, x->at + i) != '\n')
		return 0;
	__u32 len = i - x->line;
	if (x->headers) {
		int cr = x->line_before ? x->first_cr : H1_AT(sc, x->at + x->line) == '\r';
		if (len == 0 || (len == 1 && cr)) {
			x->head_len = i + 1;
			return 1;
		}
	}
	__u32 l = i + 1;
	x->line = l;
	x->headers = 1;
	x->line_before = 0;
	/* A header we want needs 20 bytes ("content-length:0\r\n\r\n"); fewer left may still be the blank line. */
	if (l + 20 > x->n)
		return 0;
	__u32 p = x->at + l;
	if (h1_named(sc, p, "content-length:", 15)) {
		__u32 k = p + 15;
#pragma unroll
		for (int j = 0; j < 4; j++)
			if (H1_AT(sc, k) == ' ' || H1_AT(sc, k) == '\t')
				k++;
		__u64 v = 0;
		int digits = 0;
#pragma unroll
		for (int j = 0; j < 15; j++) {
			__u8 ch = H1_AT(sc, k + j);
			if (ch < '0' || ch > '9')
				break;
			v = v * 10 + (ch - '0');
			digits++;
		}
		if (digits == 0 || (x->has_length && x->length != v))
			x->unframed = 1;
		x->length = v;
		x->has_length = 1;
	} else if (h1_named(sc, p, "transfer-encoding:", 18)) {
		x->unframed = 1;
	}
	return 0;
}

/* Does data[at] start a status line, "HTTP/1.x NNN"? Its status, else 0. */
static __always_inline __u32 h1_status(struct scratch *sc, __u32 at)
{
	if (H1_AT(sc, at) != 'H' || H1_AT(sc, at + 1) != 'T' || H1_AT(sc, at + 2) != 'T' || H1_AT(sc, at + 3) != 'P' || H1_AT(sc, at + 4) != '/' ||
	    H1_AT(sc, at + 5) != '1' || H1_AT(sc, at + 6) != '.' || H1_AT(sc, at + 8) != ' ')
		return 0;
	__u32 st = 0;
#pragma unroll
	for (int j = 9; j < 12; j++) {
		__u8 ch = H1_AT(sc, at + j);
		if (ch < '0' || ch > '9')
			return 0;
		st = st * 10 + (ch - '0');
	}
	return st >= 100 ? st : 0;
}

/* Does data[at] start a request line (a method of 3 to 12 capitals, then a space)? */
static __always_inline int h1_request(struct scratch *sc, __u32 at)
{
#pragma unroll
	for (int j = 0; j < 13; j++) {
		__u8 ch = H1_AT(sc, at + j);
		if (ch == ' ')
			return j >= 3;
		if (ch < 'A' || ch > 'Z')
			return 0;
	}
	return 0;
}

#define H1_STATUS_REQUEST 1 /* walk.h1_status of a request: real statuses are 100 and up */

/* One message head (an answer's or a request's) at walk.pos: finds it (in the head already
 * copied, or copies it from past the window and appends it), reads its framing, and moves
 * walk.pos past its body. A head the syscall's end cuts is resumed at the next syscall's
 * first byte (walk.h1_cut, h1_resume). */
static long h1_step(__u32 i, void *c)
{
	struct scratch *sc = walk_step();
	if (!sc)
		return 1;
	struct h2_walk *w = &sc->walk;
	__u32 pos = w->pos;
	__u32 at, n, status;
	int copied = 0, resumed = w->h1_resume;
	/* In the scratch record, not on the stack: see struct h1_scan. */
	struct h1_scan *x = &sc->h1;
	__builtin_memset(x, 0, sizeof(*x));
	if (resumed) {
		/* pos is 0: the rest of the head the last syscall ended in */
		w->h1_resume = 0;
		at = 0;
		n = w->head;
		status = w->h1_status;
		x->line = 0 - w->h1_hline;
		x->line_before = w->h1_hline > 0;
		x->first_cr = !!(w->h1_hflags & H1_FIRST_CR);
		x->headers = !!(w->h1_hflags & H1_HEADERS);
		x->has_length = !!(w->h1_hflags & H1_HAS_LENGTH);
		x->unframed = !!(w->h1_hflags & H1_UNFRAMED);
		x->length = w->h1_length;
	} else {
		if (pos < w->head) {
			at = pos;
			n = w->head - pos;
		} else {
			__u32 want = w->ret - pos;
			if (want > H1_PEEK)
				want = H1_PEEK;
			if (w->out + 8 + 12 + 4 > H2_OUT_END) {
				w->desync = 1; /* the record is full */
				return 1;
			}
			/* Near the record's end a copy is shortened: heads are kept to their length, so a
			 * read of 100 small pipelined answers fits (a cut one stops the walk below). */
			__u32 room = H2_OUT_END - 4 - 8 - w->out;
			if (want > room)
				want = room;
			long got = h2_read(w, sc, w->out + 8, pos, want);
			if (got < 12) {
				w->desync = 1;
				return 1;
			}
			at = w->out + 8;
			n = (__u32)got;
			copied = 1;
		}
		status = n >= 12 ? h1_status(sc, at) : 0;
		if (status == 0 && n >= 12 && h1_request(sc, at))
			status = H1_STATUS_REQUEST;
		if (status == 0) {
			/* No message where one was due: the walk went wrong (a HEAD's answer) or a
			 * stretch started mid-message; nothing is appended for it. */
			w->desync = 1;
			return 1;
		}
	}
	x->at = at;
	x->n = n;
	bpf_loop(H1_PEEK * 4, h1_scan_step, NULL, 0);
	if (x->head_len == 0) {
		if (!copied && !resumed && w->appended == 0 && w->head < w->ret) {
			/* It begins in the head and goes on past it: the head stops here and the whole
			 * of this one is appended instead (the next round copies it). */
			w->head = pos;
			w->out = pos;
			return 0;
		}
		if (copied)
			h2_extent(w, sc, pos, n); /* user space sees it is cut */
		if (pos + n < w->ret) {
			w->desync = 1; /* longer than the copy (H1_PEEK, or the room left), or than the head of a syscall it goes past */
			return 1;
		}
		/* The syscall ends inside it: what it showed so far goes on into the next one. */
		__u32 cut = n - x->line;
		int cr = x->line_before ? x->first_cr : cut > 0 && H1_AT(sc, at + x->line) == '\r';
		w->h1_cut = 1;
		w->h1_status = (__u16)status;
		w->h1_hline = cut;
		w->h1_length = x->length;
		w->h1_hflags = (x->has_length ? H1_HAS_LENGTH : 0) | (x->unframed ? H1_UNFRAMED : 0) | (cr ? H1_FIRST_CR : 0) | (x->headers ? H1_HEADERS : 0);
		w->pos = w->ret;
		return 1;
	}
	if (copied)
		h2_extent(w, sc, pos, x->head_len);
	/* A request without Content-Length has no body (RFC 9112 6.3); an answer without one runs
	 * to the close. Chunked bodies and other protocols (101) are not followed. */
	int request = status == H1_STATUS_REQUEST;
	int bodiless = request ? !x->has_length : status < 200 || status == 204 || status == 304;
	if (status == 101 || x->unframed || (!bodiless && !x->has_length)) {
		w->desync = 1;
		return 1;
	}
	__u64 body = bodiless ? 0 : x->length;
	__u64 next = (__u64)pos + x->head_len + body;
	if (next >= w->ret) {
		w->carry = next - w->ret;
		w->pos = w->ret;
		return 1;
	}
	w->pos = (__u32)next;
	return 0;
}

/* A read of 512, 1024, 2048... bytes most likely filled its buffer and stopped inside a
 * message: nginx reads requests 1 KiB at a time, so 100 pipelined ones cut heads there. */
static __always_inline int h1_filled(__u32 ret)
{
	return ret >= 512 && (ret & (ret - 1)) == 0;
}

/*
 * Inlined in emit(), so that most syscalls make no call: counts request and answer starts
 * (pipelining), passes over body bytes of an answer followed, and says whether h1_heads has
 * anything to do.
 */
static __always_inline int h1_wanted(struct scratch *sc, struct sock_info *s, __u8 d, __u8 buf_kind, __u32 ret, __u32 got)
{
	__u32 first = 0, second = 0;
	if (got >= 4)
		__builtin_memcpy(&first, sc->data, 4);
	if (got >= 4 && !s->h1_pipelined) {
		if (first == 0x50545448 /* "HTTP" */)
			s->h1_resps++;
		else if (looks_http(first))
			s->h1_reqs++;
		__u16 waiting = s->h1_reqs - s->h1_resps;
		if (waiting >= 2 && waiting < 0x8000)
			s->h1_pipelined = 1;
	}
	if (s->h1_sync[d] == H1_IN_BODY && s->h1_next[d] >= ret) {
		s->h1_next[d] -= ret; /* all body: the common case while a download runs */
		return 0;
	}
	if (s->h1_sync[d] != 0)
		return 1;
	if (got < 12 || buf_kind == BUF_NONE)
		return 0;
	if (first != 0x50545448 /* "HTTP" */)
		return (ret > got || h1_filled(ret)) && looks_http(first); /* requests that came together */
	__builtin_memcpy(&second, sc->data + 4, 4);
	if ((second & 0xffffff) != 0x2e312f /* "/1." */)
		return 0;
	if (ret > got)
		return 1;
	if (!s->h1_pipelined)
		return 0;
	/* Pipelining: an answer that may go on into later syscalls, 1 KiB or more or a head alone. */
	__u32 tail = 0;
	__builtin_memcpy(&tail, sc->data + ((got - 4) & (HD_MAX_CAPTURE - 1)), 4);
	return ret >= H1_FOLLOW_MIN || tail == 0x0a0d0a0d /* "\r\n\r\n" */;
}

/*
 * Follows a socket's messages in one direction through this syscall (`got` bytes of it in
 * data[]), where h1_wanted found work. Returns the bytes data[] now holds, with H1_FRAMED set
 * when heads were appended.
 */
#define H1_FRAMED 0x80000000u

__noinline __u32 h1_heads(struct sock_info *s, struct hd_args *a, struct iovec *iov0, __u32 ret, __u32 got)
{
	/* A global function: each program that calls it verifies it once, whatever the caller's
	 * state, instead of once per inlined copy of emit(). Inlined (and in the programs that
	 * ship held-back SSL_writes too) it made the probe load in 6.1 s instead of 2.9; now the
	 * programs' load time adds up to the same as before (BPF_PROG_LOAD under strace: 2.96 s
	 * against 2.84). BPF functions take five arguments, so the scratch record is looked up
	 * again and "framed" rides in the result. */
	struct scratch *sc = scratch_get();
	if (!sc || !s || !a || !iov0)
		return got;
	__u8 d = a->direction & 1;
	/* h1_wanted said there is work: from where the last message ends, from a head the last
	 * syscall cut, or (not followed yet) from this syscall's first byte. */
	__u64 start = s->h1_sync[d] == H1_IN_BODY ? s->h1_next[d] : 0;
	__u8 resume = s->h1_sync[d] == H1_IN_HEAD;
	s->h1_sync[d] = 0;
	if (resume && got == 0)
		return got;
	struct h2_walk *w = walk_begin(sc, a, iov0, ret, got);
	w->pos = (__u32)start;
	if (resume) {
		w->h1_resume = 1;
		w->h1_status = s->h1_status[d];
		w->h1_hflags = s->h1_hflags[d];
		w->h1_hline = s->h1_hline[d];
		w->h1_length = s->h1_next[d];
	}
	w->h1_dir = d;
	bpf_loop(H1_MAX_HEADS, h1_step, NULL, 0);
	/* Read back from the record, not kept across the loop: fewer registers spilled, and this
	 * frame counts in the stack limit of every chain through it (see struct h1_scan). */
	sc = scratch_get();
	if (!sc)
		return 0;
	w = &sc->walk;
	d = w->h1_dir & 1;
	ret = w->ret;
	if (w->h1_cut && !w->desync) {
		s->h1_sync[d] = H1_IN_HEAD;
		s->h1_status[d] = w->h1_status;
		s->h1_hflags[d] = w->h1_hflags;
		s->h1_hline[d] = w->h1_hline;
		s->h1_next[d] = w->h1_length;
	} else if (!w->desync && w->pos >= ret && w->carry > 0) {
		s->h1_sync[d] = H1_IN_BODY;
		s->h1_next[d] = w->carry;
	}
	/* Otherwise the next syscall starts a message (carry 0) or following stopped: either way
	 * the next one that starts an answer decides again. */
	if (w->appended == 0)
		return w->head;
	return walk_finish(w, sc) | H1_FRAMED;
}

#endif
