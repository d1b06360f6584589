/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HTTP/2 frame boundaries past the capture window. One syscall on an HTTP/2 socket can move
 * 64 KiB of frames of many streams; past the window, user space used to lose the frame
 * boundaries and with them the connection's header tables (every later grpc-status refers to a
 * table entry). So the kernel follows the frames of each direction across syscalls and appends,
 * after the payload's head, every frame header past the window with the payload of header
 * blocks and control frames (DATA payloads stay unread):
 *
 *   data[] = head[P] { u32 offset, u32 n, n bytes from that offset }* u32 P    (HD_F_H2_FRAMES)
 *
 * Included by http_capture.bpf.c after its maps: it uses the socket state and the scratch record.
 */
#ifndef HEIMDALL_H2_WALK_BPF_H
#define HEIMDALL_H2_WALK_BPF_H

#define H2_HDR 9
#define H2_MAX_FRAMES 512
/* Room for appended frames: data[] holds 3 * HD_MAX_CAPTURE and the head takes at most one. */
#define H2_OUT_END (HD_MAX_CAPTURE * 2 - 16)


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

/* Copies n (< HD_MAX_CAPTURE) payload bytes from `pos` to data[at]; the bytes copied, or -1.
 * An iovec boundary inside the range is crossed once (Node hands a frame's header and payload
 * over as two iovecs). */
static __always_inline long h2_read(struct h2_walk *w, struct scratch *sc, __u32 at, __u32 pos, __u32 n)
{
	/* The barriers keep clang from dropping masks it proves redundant: the verifier needs them. */
	asm volatile("" : "+r"(at), "+r"(n));
	at &= (HD_MAX_CAPTURE * 2 - 1);
	n &= (HD_MAX_CAPTURE - 1);
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
	first &= (HD_MAX_CAPTURE - 1);
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
	rest &= (HD_MAX_CAPTURE - 1);
	at2 &= (HD_MAX_CAPTURE * 2 - 1);
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
		h[k] = sc->data[(at + k) & (HD_MAX_CAPTURE * 2 - 1)];
	__u32 len = ((__u32)h[0] << 16) | ((__u32)h[1] << 8) | h[2];
	__u8 type = h[3];
	int sid_zero = (h[5] & 0x7f) == 0 && h[6] == 0 && h[7] == 0 && h[8] == 0;
	/* Extension frames (ALTSVC, ORIGIN, PRIORITY_UPDATE: Chrome sends the last) are passed over
	 * once frames are followed, never taken as a first frame. */
	if ((h[5] & 0x80) || (fresh && len > 16384))
		return 0;
	if (type > 9)
		return !fresh && (type == 10 || type == 12 || type == 16);
	if (type == 4 || type == 6 || type == 7 ? !sid_zero : type != 8 && sid_zero)
		return 0;
	if ((type == 2 && len != 5) || (type == 3 && len != 4) || (type == 6 && len != 8) || (type == 8 && len != 4) || (type == 4 && len % 6 != 0))
		return 0;
	return 1;
}

/* Payloads user space reads (header blocks, RST_STREAM, GOAWAY): DATA and the rest are skipped. */
static __always_inline int h2_kept(__u8 type)
{
	return type == 1 || type == 3 || type == 5 || type == 7 || type == 9;
}

static long h2_step(__u32 i, void *c)
{
	struct scratch *sc = scratch_get();
	if (!sc)
		return 1;
	struct h2_walk *w = &sc->walk;
	if (w->pos >= w->ret)
		return 1;
	__u32 pos = w->pos;
	__u32 left = w->ret - pos;
	__u32 take = left < H2_HDR ? left : H2_HDR;
	/* A header that begins in the head but ends past it is appended whole instead. */
	if (pos < w->head && pos + take > w->head && w->appended == 0) {
		w->head = pos;
		w->out = pos;
	}
	__u8 h[4] = {};
	__u32 at; /* where the header's bytes are in data[] */
	int append = 0;
	if (pos + take <= w->head) {
		at = pos;
	} else if (w->out + 8 + H2_HDR + 4 > H2_OUT_END) {
		/* No room left: the frames are still followed (for the next syscall), not appended;
		 * user space meets a gap from here, as it did before this existed. */
		at = H2_OUT_END;
		if (h2_read(w, sc, at, pos, take) != take) {
			w->desync = 1;
			return 1;
		}
	} else {
		/* Past the head: append { offset, n, header [, payload] }. */
		append = 1;
		at = w->out + 8;
		if (h2_read(w, sc, at, pos, take) != take) {
			w->desync = 1;
			return 1;
		}
	}
	at &= (HD_MAX_CAPTURE * 2 - 1);
	for (__u32 k = 0; k < 4; k++)
		if (k < take)
			h[k] = sc->data[(at + k) & (HD_MAX_CAPTURE * 2 - 1)];
	if (take == H2_HDR && !h2_sane(sc, at, 0)) {
		w->desync = 1;
		return 1;
	}
	__u32 len = ((__u32)h[0] << 16) | ((__u32)h[1] << 8) | h[2];
	if (append) {
		__u32 n = take;
		if (take == H2_HDR && h2_kept(h[3])) {
			__u32 want = left - H2_HDR < len ? left - H2_HDR : len;
			__u32 room = H2_OUT_END - 4 - (at + H2_HDR);
			if (want > room)
				want = room;
			if (want > HD_MAX_CAPTURE - 1)
				want = HD_MAX_CAPTURE - 1;
			if (want > 0) {
				long p = h2_read(w, sc, at + H2_HDR, pos + H2_HDR, want);
				if (p > 0)
					n += (__u32)p;
			}
		}
		__u32 oo = w->out & (HD_MAX_CAPTURE * 2 - 1);
		__builtin_memcpy(sc->data + oo, &pos, 4);
		__builtin_memcpy(sc->data + oo + 4, &n, 4);
		w->out += 8 + n;
		w->appended++;
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
 * were appended. A socket not yet followed starts at a syscall whose first bytes are the
 * client preface or a sane frame header (writers send whole frames per syscall).
 */
static __always_inline __u32 h2_frames(struct scratch *sc, struct sock_info *s, struct hd_args *a, struct iovec *iov0, __u32 ret, __u32 got, int *framed)
{
	__u8 d = a->direction & 1;
	/* The walk's state lives in the map value, not on the stack: the verifier then does not
	 * track its numbers precisely from one bpf_loop round to the next (it would never settle). */
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
	*framed = 0;
	if (a->buf_kind == BUF_NONE)
		goto lost;
	if (!s->h2_sync[d]) {
		__u32 w0;
		if (got < H2_HDR)
			goto lost;
		__builtin_memcpy(&w0, sc->data, 4);
		if (w0 == 0x20495250 /* "PRI " */)
			w->pos = 24;
		else if (h2_sane(sc, 0, 1))
			w->pos = 0;
		else
			goto lost;
	} else if (s->h2_have[d]) {
		/* The last syscall ended inside a frame header: its first bytes are in h2_hdr. */
		__u32 have = s->h2_have[d] & 7;
		__u8 h[4];
		if (got < 4)
			goto lost;
		__builtin_memcpy(h, s->h2_hdr[d], 4);
		for (__u32 k = 0; k < 4; k++)
			if (k >= have)
				h[k] = sc->data[(k - have) & 7];
		if (h[3] > 16)
			goto lost;
		w->pos = H2_HDR - have + (((__u32)h[0] << 16) | ((__u32)h[1] << 8) | h[2]);
	} else {
		w->pos = s->h2_next[d];
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
		return w->head;
	__u32 end = w->out;
	asm volatile("" : "+r"(end));
	end &= (HD_MAX_CAPTURE * 2 - 1);
	__u32 head = w->head;
	__builtin_memcpy(sc->data + end, &head, 4);
	*framed = 1;
	return end + 4;
lost:
	/* Followed no further: user space meets a gap, as before this existed, and the next
	 * syscall that starts at a frame boundary picks the frames up again. */
	s->h2_sync[d] = 0;
	s->h2_have[d] = 0;
	return w->head; /* past it, data[] may hold appended frames now */
}

#endif
