#!/usr/bin/env bash
# The whole suite: typecheck, lint, unit tests beside the code, end-to-end tests in test/.
# Files run one at a time: the end-to-end tests each load the eBPF probe, and two agents
# at once would see (and count) each other's traffic.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .tools/node/bin/node ]; then export PATH="$PWD/.tools/node/bin:$PATH"; fi
echo "[test] typecheck"
node node_modules/typescript/bin/tsc -p tsconfig.json
node node_modules/typescript/bin/tsc -p ui/tsconfig.json
echo "[test] lint"
node node_modules/eslint/bin/eslint.js --max-warnings 0 .
echo "[test] node --test"
exec node --disable-warning=ExperimentalWarning --test --test-concurrency=1 --test-reporter=spec \
  "src/**/*.test.ts" "ui/src/**/*.test.ts" "test/**/*.test.ts"
