// HTTP/2 receive windows of the gRPC server. grpc-js's server keeps HTTP/2's defaults (64 KiB
// per stream and per connection) and has no option for them, so an agent's ~100 KB batches
// went out in pieces, each waiting for a WINDOW_UPDATE: ~2.6 socket writes per batch (0.9
// with this). Real pump output (nginx + wrk, 14k req/s) replayed through the real agent, seven
// alternating pairs: 20.5 → 18.1 µs of agent CPU per request (medians; ranges 16.7–21.0 and
// 17.3–19.0); bench/ingest batch 200, two pairs: 56.5k → 60.4k and 68.5k → 70.9k rows per
// server CPU-second. A window holds an agent's whole send
// window (AGENT_MAX_INFLIGHT_BATCHES, 256 by default, of ~80 KB); memory stays bounded by the ingester's
// pending-row limit, which sheds load before the bytes pile up.
import type { EventEmitter } from 'node:events';
import type { Http2Session } from 'node:http2';
import type * as grpc from '@grpc/grpc-js';
import { createLogger } from '../../shared/log.ts';

const log = createLogger('grpc');

export const RECEIVE_WINDOW_BYTES = 32 << 20;

/** What this reaches into: grpc-js 1.14's server internals (checked, and left alone when absent). */
interface ServerInternals {
  commonServerOptions?: { settings?: Record<string, unknown> };
  http2Servers?: Map<EventEmitter, unknown>;
}

/** Before the server binds: streams are opened with the wide window (SETTINGS_INITIAL_WINDOW_SIZE). */
export function widenStreamWindows(server: grpc.Server, bytes = RECEIVE_WINDOW_BYTES): boolean {
  const opts = (server as unknown as ServerInternals).commonServerOptions;
  if (!opts) {
    log.debug('HTTP/2 stream windows left at their default (grpc-js internals changed)');
    return false;
  }
  opts.settings = { ...opts.settings, initialWindowSize: bytes };
  return true;
}

/** After it binds: each connection's own window is widened as it opens. */
export function widenConnectionWindows(server: grpc.Server, bytes = RECEIVE_WINDOW_BYTES): boolean {
  const servers = (server as unknown as ServerInternals).http2Servers;
  if (!(servers instanceof Map) || servers.size === 0) {
    log.debug('HTTP/2 connection windows left at their default (grpc-js internals changed)');
    return false;
  }
  for (const h of servers.keys()) h.on('session', (s: Http2Session) => s.setLocalWindowSize(bytes));
  return true;
}
