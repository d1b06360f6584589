// gRPC outcomes the HTTP/2 session can tell: the grpc-status value itself, and the status a
// gRPC client reports when there is none (a reset stream, an HTTP error answer), as gRPC's
// PROTOCOL-HTTP2.md and http-grpc-status-mapping.md say.

/** gRPC status codes are small numbers (0–16 today): anything else is kept out rather than stored as text. */
export function grpcStatus(v: string): string {
  return /^\d{1,2}$/.test(v) ? v : '';
}

/**
 * The status a gRPC client reports for a stream reset with this HTTP/2 error code (gRPC's
 * PROTOCOL-HTTP2.md, "Errors"): CANCEL is a cancellation, or the deadline when the call's
 * grpc-timeout had run out (the client's own timer sends it then).
 */
export function resetStatus(code: number, pastDeadline: boolean): string {
  switch (code) {
    case 0x8: return pastDeadline ? '4' : '1'; // CANCEL → DEADLINE_EXCEEDED or CANCELLED
    case 0x7: return '14'; // REFUSED_STREAM → UNAVAILABLE
    case 0xb: return '8'; // ENHANCE_YOUR_CALM → RESOURCE_EXHAUSTED
    case 0xc: return '7'; // INADEQUATE_SECURITY → PERMISSION_DENIED
    default: return '13'; // INTERNAL
  }
}

/** A gRPC call answered with an HTTP error and no grpc-status (a proxy's 502, say): gRPC's http-grpc-status-mapping.md. */
export function httpStatusToGrpc(http: number): string {
  switch (http) {
    case 400: return '13'; // INTERNAL
    case 401: return '16'; // UNAUTHENTICATED
    case 403: return '7'; // PERMISSION_DENIED
    case 404: return '12'; // UNIMPLEMENTED
    case 429: case 502: case 503: case 504: return '14'; // UNAVAILABLE
    default: return '2'; // UNKNOWN
  }
}

const TIMEOUT_UNIT_NS: Record<string, number> = { H: 3600e9, M: 60e9, S: 1e9, m: 1e6, u: 1e3, n: 1 };

/** grpc-timeout ("100m", "5S": at most 8 digits and a unit) in ns; -1 when malformed. */
export function grpcTimeoutNs(v: string): number {
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  return m ? Number(m[1]) * TIMEOUT_UNIT_NS[m[2]] : -1;
}
