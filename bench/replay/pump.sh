#!/bin/sh
# heimdall-pump's stand-in for bench/replay (its arguments are the agent's, and ignored).
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
exec "$here/../../bin/heimdall-node" "$here/pump.ts"
