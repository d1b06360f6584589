// Mirror of src/kernel/http_capture.h (the source of truth); event-layout.test.ts compiles
// the header and checks every size and offset here against it.
export const EV_DATA = 1;
export const EV_CLOSE = 2;
/** The last thread of a process that used HTTP exits: its sockets close without close() calls. */
export const EV_EXIT = 4;
export const EV_HELLO = 100;
export const EV_STATS = 101;

export const EVENT = {
  size: 104,
  kind: 0, tgid: 4, tid: 8, fd: 12, start_ns: 16, end_ns: 24, sock_id: 32, len: 40, captured: 44,
  family: 48, lport: 50, rport: 52, direction: 54, flags: 55, laddr: 56, raddr: 72, comm: 88,
} as const;

export const HELLO = { size: 24, kind: 0, version: 4, realtime_offset_ns: 8, capture_bytes: 16, ncpus: 20 } as const;

export const STATS = { size: 88, kind: 0, nprogs: 4, counters: 8, prog_run_ns: 64, prog_run_cnt: 72, realtime_offset_ns: 80 } as const;

/** enum hd_stat order. */
export const STAT_NAMES = ['events', 'ringbuf_full', 'skipped_non_http', 'args_full', 'tls_events', 'tls_no_socket', 'tls_opaque'] as const;

/** hd_event.flags */
export const F_TLS = 2;
/** Records of this socket were lost just before this one (ring buffer full). */
export const F_AFTER_LOSS = 4;
/** The payload's head, then pieces past it: HTTP/2 frames (src/kernel/h2_walk.bpf.h), HTTP/1 message heads (h1_walk.bpf.h); decode.ts recordPieces. */
export const F_PIECES = 8;

export const MAX_CAPTURE = 8192;
export const AF_INET = 2;
