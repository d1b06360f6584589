/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HTTP/2 frame boundaries past the capture window. One syscall on an HTTP/2 socket can move
 * 64 KiB of frames of many streams; past the window, user space used to lose the frame
 * boundaries and with them the connection's header tables (every later grpc-status refers to a
 * table entry). So the kernel follows the frames of each direction across syscalls and appends,
 * after the payload's head, every frame header past the window with the payload of header
 * blocks and control frames (DATA payloads stay unread):
 *
 *   data[] = head[P] { u32 offset, u32 n, n bytes from that offset }* u32 P    (HD_F_PIECES)
 *
 * Included by http_capture.bpf.c after its maps: it uses the socket state and the scratch record.
 */
#ifndef HEIMDALL_H2_WALK_BPF_H
#define HEIMDALL_H2_WALK_BPF_H

#define H2_HDR 9
#define H2_MAX_FRAMES 512
/* data[] is 2 * H2_OUT bytes: the head (at most HD_MAX_CAPTURE) and appended frames end below
 * H2_OUT (offsets are masked with H2_OUT - 1), and one copy is under H2_OUT bytes (a header
 * block of the default largest frame, 16 KiB, fits whole). */
#define H2_OUT (HD_MAX_CAPTURE * 4)
#define H2_OUT_END (H2_OUT - 16)
#define H2_MAX_COPY (HD_MAX_CAPTURE * 2)


static long h2_seek_step(__u32 k, void *c)
{
	struct scratch *sc = scratch_get();
	if (!sc)
		return 1;
	struct h2_walk *w = &sc->walk;
	if (w->seek_pos < w->iov_start + w->iov_len) {
		w->seek_found = 1;
		return 1;
	}
	struct iovec iov = {};
	__u32 i = w->iov_i + 1;
	if (i >= w->iovcnt || bpf_probe_read_user(&iov, sizeof(iov), (void *)(w->buf + (__u64)i * sizeof(iov))))
		return 1;
	w->iov_i = i;
	w->iov_start += w->iov_len;
	w->iov_len = (__u32)iov.iov_len;
	w->iov_base = (__u64)iov.iov_base;
	return 0;
}

#define H2_PREFACE 24

/* The client preface opens the connection in direction d; `skip` of its bytes went by in
 * syscalls before (split_start). The other direction's next bytes start a frame too: its
 * first, SETTINGS (a server that wrote that before reading the preface writes whole frames).
 * Known from the start, a reader whose first read ends inside a frame header (TCP delivers
 * what has arrived) keeps the frames past its capture window. */
static __always_inline void h2_open(struct sock_info *s, __u8 d, __u32 skip)
{
	d &= 1;
	if (skip) {
		s->h2_sync[d] = 1;
		s->h2_next[d] = H2_PREFACE - skip;
		s->h2_have[d] = 0;
		s->h2_kept[d] = 0;
	}
	if (!s->h2_sync[d ^ 1]) {
		s->h2_sync[d ^ 1] = 1;
		s->h2_next[d ^ 1] = 0;
		s->h2_have[d ^ 1] = 0;
		s->h2_kept[d ^ 1] = 0;
	}
}

/* A walk over this syscall's bytes (h2_frames, h1_heads): `got` of them are in data[] already. */
static __always_inline struct h2_walk *walk_begin(struct scratch *sc, struct hd_args *a, struct iovec *iov0, __u32 ret, __u32 got)
{
	struct h2_walk *w = &sc->walk;
	__builtin_memset(w, 0, sizeof(*w));
	w->buf = a->buf;
	w->iovcnt = a->iovcnt;
	w->kind = a->buf_kind;
	w->ret = ret;
	w->avail = a->buf_kind == BUF_KERNEL && got < ret ? got : ret;
	w->head = got;
	w->out = got;
	w->iov_len = (__u32)iov0->iov_len;
	w->iov_base = (__u64)iov0->iov_base;
	return w;
}

/* A walk step's record, NULL once the walk reached the syscall's end (h2_step, h1_step). */
static __always_inline struct scratch *walk_step(void)
{
	struct scratch *sc = scratch_get();
	return sc && sc->walk.pos < sc->walk.ret ? sc : NULL;
}

/* Ends a record that has pieces past its head: data[] = head[P] { u32 offset, u32 n, n bytes }* u32 P.
 * Returns the bytes data[] then holds. */
static __always_inline __u32 walk_finish(struct h2_walk *w, struct scratch *sc)
{
	__u32 end = w->out;
	asm volatile("" : "+r"(end));
	end &= (H2_OUT - 1);
	__u32 head = w->base == 0 ? w->head : 0; /* later parts carry no head */
	__builtin_memcpy(sc->data + end, &head, 4);
	return end + 4;
}

/* Moves the iovec cursor (forward only) to the iovec holding byte `pos`; 0 on success. */
static __always_inline int h2_seek(struct h2_walk *w, __u32 pos)
{
	if (pos < w->iov_start + w->iov_len)
		return 0;
	w->seek_pos = pos;
	w->seek_found = 0;
	bpf_loop(1024, h2_seek_step, NULL, 0);
	return w->seek_found ? 0 : -1;
}

/* Copies n (<= H2_MAX_COPY) payload bytes from `pos` to data[at]; the bytes copied, or -1.
 * An iovec boundary inside the range is crossed once (Node hands a frame's header and payload
 * over as two iovecs). */
static __always_inline long h2_read(struct h2_walk *w, struct scratch *sc, __u32 at, __u32 pos, __u32 n)
{
	/* The barriers keep clang from dropping masks it proves redundant: the verifier needs them. */
	asm volatile("" : "+r"(at), "+r"(n));
	at &= (H2_OUT - 1);
	n &= (H2_OUT - 1);
	if (w->kind == BUF_PLAIN)
		return bpf_probe_read_user(sc->data + at, n, (void *)(w->buf + pos)) ? -1 : n;
	if (w->kind == BUF_KERNEL) {
		if (pos + n > w->avail)
			return -1;
		return bpf_probe_read_kernel(sc->data + at, n, (void *)(w->buf + pos)) ? -1 : n;
	}
	if (w->kind != BUF_IOV || h2_seek(w, pos))
		return -1;
	__u32 first = w->iov_start + w->iov_len - pos;
	if (first > n)
		first = n;
	asm volatile("" : "+r"(first));
	first &= (H2_OUT - 1);
	if (bpf_probe_read_user(sc->data + at, first, (void *)(w->iov_base + (pos - w->iov_start))))
		return -1;
	if (first == n)
		return n;
	if (h2_seek(w, pos + first))
		return first;
	__u32 rest = n - first;
	if (rest > w->iov_len)
		rest = w->iov_len;
	__u32 at2 = at + first;
	asm volatile("" : "+r"(rest), "+r"(at2));
	rest &= (H2_OUT - 1);
	at2 &= (H2_OUT - 1);
	if (bpf_probe_read_user(sc->data + at2, rest, (void *)w->iov_base))
		return first;
	return first + rest;
}

/* Could the 9 bytes at data[at] be a frame header? The rules user space's plausibleFrames
 * applies (RFC 9113 6: known type, reserved bit clear, stream id zero exactly for connection
 * frames, fixed lengths); `fresh` (no frame followed before) also wants a length within the
 * default SETTINGS_MAX_FRAME_SIZE, so a syscall starting inside a payload is rarely taken. */
static __always_inline int h2_sane(struct scratch *sc, __u32 at, int fresh)
{
	__u8 h[H2_HDR];
	for (__u32 k = 0; k < H2_HDR; k++)
		h[k] = sc->data[(at + k) & (H2_OUT - 1)];
	__u32 len = ((__u32)h[0] << 16) | ((__u32)h[1] << 8) | h[2];
	__u8 type = h[3];
	int sid_zero = (h[5] & 0x7f) == 0 && h[6] == 0 && h[7] == 0 && h[8] == 0;
	/* Frames of other types (ALTSVC, ORIGIN, PRIORITY_UPDATE, which Chrome sends, and the
	 * reserved types of HTTP/2 GREASE) are passed over by their length once frames are
	 * followed, as peers ignore them (RFC 9113 5.5); never taken as a first frame. (Type 0xff
	 * is refused: with every type let through, clang's code took the verifier past its
	 * limit.) */
	if ((h[5] & 0x80) || (fresh && len > 16384))
		return 0;
	if (type > 9)
		return !fresh && type != 0xff;
	if (type == 4 || type == 6 || type == 7 ? !sid_zero : type != 8 && sid_zero)
		return 0;
	if ((type == 2 && len != 5) || (type == 3 && len != 4) || (type == 6 && len != 8) || (type == 8 && len != 4) || (type == 4 && len % 6 != 0))
		return 0;
	return 1;
}

/* The first four bytes (length, type) of the `take` header bytes at data[at] into h, and the
 * length into *len; 0 when a whole header is not one (a part of one cut by the syscall's end
 * is taken as it is). */
static __always_inline int h2_header(struct scratch *sc, __u32 at, __u32 take, __u8 h[4], __u32 *len)
{
	at &= (H2_OUT - 1);
	for (__u32 k = 0; k < 4; k++)
		if (k < take)
			h[k] = sc->data[(at + k) & (H2_OUT - 1)];
	*len = ((__u32)h[0] << 16) | ((__u32)h[1] << 8) | h[2];
	return take < H2_HDR || h2_sane(sc, at, 0);
}

/* Payloads user space reads (header blocks, RST_STREAM, GOAWAY): DATA and the rest are skipped. */
static __always_inline int h2_kept(__u8 type)
{
	return type == 1 || type == 3 || type == 5 || type == 7 || type == 9;
}

/* Appends { offset from the part's start, n } for n bytes already at data[out + 8]. */
static __always_inline void h2_extent(struct h2_walk *w, struct scratch *sc, __u32 pos, __u32 n)
{
	__u32 oo = w->out & (H2_OUT - 1);
	__u32 off = pos - w->base;
	__builtin_memcpy(sc->data + oo, &off, 4);
	__builtin_memcpy(sc->data + oo + 4, &n, 4);
	w->out += 8 + n;
	w->appended++;
}

/* The record built so far goes out as one covering the syscall's bytes [base, pos); what
 * follows `pos` (a frame boundary) becomes the next record: a syscall that carries more header
 * blocks than one record holds (20 streams with 12 KB headers) is shipped as several. */
static __always_inline void h2_flush(struct h2_walk *w, struct scratch *sc, __u32 pos)
{
	__u32 captured = walk_finish(w, sc);
	sc->ev.len = pos - w->base;
	sc->ev.captured = captured;
	sc->ev.flags |= HD_F_PIECES;
	__u64 size = sizeof(struct hd_event) + captured;
	asm volatile("" : "+r"(size));
	if (size <= sizeof(struct hd_event) + H2_OUT + 4 && bpf_ringbuf_output(&events, sc, size, BPF_RB_NO_WAKEUP) == 0) {
		count(HD_STAT_EVENTS);
		sc->ev.flags &= ~HD_F_AFTER_LOSS;
	} else {
		count(HD_STAT_RINGBUF_FULL);
		sc->ev.flags |= HD_F_AFTER_LOSS; /* the next part says bytes before it went missing */
	}
	w->base = pos;
	w->head = pos; /* where data[] stops holding the syscall's bytes from their start: here, none */
	w->out = 0;
	w->appended = 0;
}

static long h2_step(__u32 i, void *c)
{
	struct scratch *sc = walk_step();
	if (!sc)
		return 1;
	struct h2_walk *w = &sc->walk;
	__u32 pos = w->pos;
	__u32 left = w->ret - pos;
	__u32 take = left < H2_HDR ? left : H2_HDR;
	/* A header that begins in the head but ends past it is appended whole instead. */
	if (w->base == 0 && pos < w->head && pos + take > w->head && w->appended == 0) {
		w->head = pos;
		w->out = pos;
	}
	__u8 h[4] = {};
	__u32 len = 0;
	if (pos + take <= w->head) {
		/* Inside the head: already in data[]. */
		if (!h2_header(sc, pos, take, h, &len)) {
			w->desync = 1;
			return 1;
		}
		if (take == H2_HDR && w->appended == 0 && h2_kept(h[3]) && pos + H2_HDR + len > w->head && w->head < w->ret) {
			/* A header block that begins in the head and goes on past it: its rest is
			 * appended from where the head ends (a 12 KB cookie must not cost the tables). */
			__u32 from = w->head;
			__u32 end = pos + H2_HDR + len < w->ret ? pos + H2_HDR + len : w->ret;
			__u32 want = end - from;
			__u32 room = H2_OUT_END - 4 - (w->out + 8);
			if (want > room)
				want = room;
			if (want > H2_MAX_COPY)
				want = H2_MAX_COPY;
			long got = want > 0 ? h2_read(w, sc, w->out + 8, from, want) : -1;
			if (got > 0)
				h2_extent(w, sc, from, (__u32)got);
		}
	} else {
		/* Past the head: the header is read into the spare bytes at H2_OUT_END first. */
		if (h2_read(w, sc, H2_OUT_END, pos, take) != take) {
			w->desync = 1;
			return 1;
		}
		if (!h2_header(sc, H2_OUT_END, take, h, &len)) {
			w->desync = 1;
			return 1;
		}
		__u32 want = 0; /* payload bytes to append */
		if (take == H2_HDR && h2_kept(h[3])) {
			want = left - H2_HDR < len ? left - H2_HDR : len;
			if (want > H2_MAX_COPY)
				want = H2_MAX_COPY;
		}
		if (w->out + 8 + take + want + 4 > H2_OUT_END && w->appended > 0)
			h2_flush(w, sc, pos);
		if (w->out + 8 + take + 4 <= H2_OUT_END) {
			__u32 room = H2_OUT_END - 4 - (w->out + 8 + take);
			if (want > room)
				want = room; /* a part of its own and still too large: cut, as user space expects */
			__u32 at = (w->out + 8) & (H2_OUT - 1);
			for (__u32 k = 0; k < H2_HDR; k++)
				if (k < take)
					sc->data[(at + k) & (H2_OUT - 1)] = sc->data[(H2_OUT_END + k) & (H2_OUT - 1)];
			__u32 n = take;
			if (want > 0) {
				long p = h2_read(w, sc, at + H2_HDR, pos + H2_HDR, want);
				if (p > 0)
					n += (__u32)p;
			}
			h2_extent(w, sc, pos, n);
		}
	}
	if (take < H2_HDR) {
		/* The header goes on in the next syscall: remember what of it went by. */
		w->cut_have = take;
		__builtin_memcpy(w->cut_hdr, h, 4);
		w->pos = w->ret;
		return 1;
	}
	w->last_kept = h2_kept(h[3]);
	w->pos = pos + H2_HDR + len;
	return 0;
}

/*
 * Follows this syscall's frames from where the last one left off and appends those past the
 * head (`got` bytes in data[]). Returns the bytes data[] now holds; sets *framed when frames
 * were appended. Parts already shipped (h2_flush) leave walk.base at where this record starts. A socket not yet followed starts at a syscall whose first bytes are the
 * client preface or a sane frame header (writers send whole frames per syscall).
 */
static __always_inline __u32 h2_frames(struct scratch *sc, struct sock_info *s, struct hd_args *a, struct iovec *iov0, __u32 ret, __u32 got, int *framed)
{
	__u8 d = a->direction & 1;
	/* The walk's state lives in the map value, not on the stack: the verifier then does not
	 * track its numbers precisely from one bpf_loop round to the next (it would never settle). */
	struct h2_walk *w = walk_begin(sc, a, iov0, ret, got);
	*framed = 0;
	if (a->buf_kind == BUF_NONE)
		goto lost;
	if (!s->h2_sync[d]) {
		__u32 w0 = 0;
		if (got < 4)
			goto lost;
		__builtin_memcpy(&w0, sc->data, 4);
		if (w0 == 0x20495250 /* "PRI " */) {
			w->pos = H2_PREFACE;
			h2_open(s, d, 0);
		} else if (got < H2_HDR)
			goto lost;
		else if (h2_sane(sc, 0, 1))
			w->pos = 0;
		else
			goto lost;
	} else if (s->h2_have[d]) {
		/* The last syscall ended inside a frame header: its first bytes are in h2_hdr. */
		/* 1 to 8 bytes: masked with 15, not 7, or a header cut after its eighth byte reads as none. */
		__u32 have = s->h2_have[d] & 15;
		__u8 h[4];
		if (have > 8)
			goto lost;
		__builtin_memcpy(h, s->h2_hdr[d], 4);
		for (__u32 k = 0; k < 4; k++)
			if (k >= have && k - have < got)
				h[k] = sc->data[(k - have) & 7];
		if (have + got < 4) {
			/* Still short of the length and type: a header cut by three reads or more. */
			if (got < ret)
				goto lost;
			__builtin_memcpy(s->h2_hdr[d], h, 4);
			s->h2_have[d] = (__u8)(have + got);
			return got;
		}
		if (h[3] > 16)
			goto lost;
		w->pos = H2_HDR - have + (((__u32)h[0] << 16) | ((__u32)h[1] << 8) | h[2]);
		w->last_kept = h2_kept(h[3]);
	} else {
		w->pos = s->h2_next[d];
		w->last_kept = s->h2_kept[d]; /* the frame in progress, should this syscall end inside it too */
	}
	if (w->last_kept && w->pos > got && got < ret) {
		/* The header block begun by the last syscall (or whose header it cut) goes on past
		 * this one's head: its rest is appended from the head's end, like one that begins in
		 * the head. */
		__u32 from = got;
		__u32 want = (w->pos < ret ? w->pos : ret) - from;
		if (want > H2_MAX_COPY)
			want = H2_MAX_COPY;
		long n = h2_read(w, sc, w->out + 8, from, want);
		if (n > 0)
			h2_extent(w, sc, from, (__u32)n);
	}
	s->h2_have[d] = 0;
	if (w->pos < ret)
		bpf_loop(H2_MAX_FRAMES, h2_step, NULL, 0);
	if (w->desync || w->pos < ret)
		goto lost;
	s->h2_sync[d] = 1;
	s->h2_next[d] = w->pos - ret;
	s->h2_kept[d] = w->pos > ret && w->last_kept;
	if (w->cut_have) {
		s->h2_have[d] = (__u8)w->cut_have;
		__builtin_memcpy(s->h2_hdr[d], w->cut_hdr, 4);
		s->h2_next[d] = 0;
	}
	if (w->appended == 0)
		return w->base == 0 ? w->head : 0;
	*framed = 1;
	return walk_finish(w, sc);
lost:
	/* Followed no further: user space meets a gap, as before this existed, and the next
	 * syscall that starts at a frame boundary picks the frames up again. Past the head,
	 * data[] may hold appended frames now; a later part has no head. */
	s->h2_sync[d] = 0;
	s->h2_have[d] = 0;
	return w->base == 0 ? w->head : 0;
}

#endif
