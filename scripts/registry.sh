#!/usr/bin/env bash
# Starts (or stops) a throwaway OCI image registry on loopback for the
# container-feed tests: Debian's docker-registry (CNCF distribution 2.8), run
# as a plain process (never its system service), filesystem storage in a
# temporary directory.
#
# Usage: scripts/registry.sh start|stop|running|url|env [basic|token|anonymous]
#
#   basic      htpasswd (bcrypt) basic auth; the default
#   token      the Docker token flow (`WWW-Authenticate: Bearer realm=...`):
#              tokens are RS256 JWTs signed by a key this script generates;
#              the token server itself is the caller's (the tests run one) and
#              its URL must be given in KD_REGISTRY_TOKEN_REALM
#   anonymous  no auth at all
#
# `start` prints the registry's URL; `env` prints KEY=VALUE lines (URL, host,
# the fixed test-only user and password, and for `token` the signing key,
# certificate, service and issuer). Each mode has its own port and directory,
# so the three can run side by side. `start` is idempotent: a registry already
# running with the same configuration is left alone, one whose configuration
# changed is restarted. `stop` (without a mode: all modes) stops the registry
# and deletes its directory, images included.
#
# Settings (environment): KD_REGISTRY_DIR (default /tmp/kube-delivery-registry),
# KD_REGISTRY_PORT (default: the first free port from 55000/55010/55020 for
# basic/token/anonymous), KD_REGISTRY_USER, KD_REGISTRY_PASSWORD (test-only
# credentials, defaults below), KD_REGISTRY_TOKEN_REALM (token mode).
# When run as root, installs the Debian packages it needs if they are missing
# (docker-registry, apache2-utils for htpasswd, openssl for token mode).
set -euo pipefail

REGISTRY_BIN=/usr/bin/docker-registry
BASE_DIR="${KD_REGISTRY_DIR:-/tmp/kube-delivery-registry}"
# Test-only credentials: this registry lives on loopback and is thrown away.
REG_USER="${KD_REGISTRY_USER:-kd-test}"
REG_PASSWORD="${KD_REGISTRY_PASSWORD:-kd-test-password}"
TOKEN_SERVICE=kube-delivery-registry
TOKEN_ISSUER=kube-delivery-test

usage() {
  echo "usage: $0 start|stop|running|url|env [basic|token|anonymous]" >&2
  exit 2
}

command_name="${1:-}"
mode="${2:-basic}"
case "$mode" in
  basic) base_port=55000 ;;
  token) base_port=55010 ;;
  anonymous) base_port=55020 ;;
  *) usage ;;
esac
dir="$BASE_DIR/$mode"

# Brings the Debian packages this mode needs, as root; says what is missing otherwise.
ensure_packages() {
  local missing=()
  [ -x "$REGISTRY_BIN" ] || missing+=(docker-registry)
  [ "$mode" = basic ] && ! command -v htpasswd >/dev/null && missing+=(apache2-utils)
  [ "$mode" = token ] && ! command -v openssl >/dev/null && missing+=(openssl)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "Installing ${missing[*]} (once)..." >&2
  # The package would start (and, under systemd, enable) its own registry on
  # :5000: forbid service starts for the duration of the install.
  local own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  local status=0
  {
    # Without package lists (a fresh container) the install cannot find anything.
    if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then apt-get update -qq; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  } || status=$?
  [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/docker-registry ] && command -v update-rc.d >/dev/null; then
    update-rc.d docker-registry disable >/dev/null 2>&1 || true
  fi
  [ "$status" = 0 ] || { echo "apt-get install ${missing[*]} failed" >&2; exit 1; }
}

port_in_use() { (: </dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

# The pid of this mode's registry when it is running (and really is ours).
running_pid() {
  local pid
  [ -f "$dir/pid" ] || return 1
  pid=$(cat "$dir/pid")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$dir/config.yml" || return 1
  echo "$pid"
}

current_port() { cat "$dir/port" 2>/dev/null; }

choose_port() {
  if [ -n "${KD_REGISTRY_PORT:-}" ]; then
    echo "$KD_REGISTRY_PORT"
    return
  fi
  local p
  for ((p = base_port; p < base_port + 1000; p++)); do
    port_in_use "$p" || { echo "$p"; return; }
  done
  echo "no free port from $base_port" >&2
  exit 1
}

write_config() {
  local port="$1" auth
  case "$mode" in
    basic)
      auth="auth:
  htpasswd:
    realm: kube-delivery-test
    path: $dir/htpasswd" ;;
    token)
      auth="auth:
  token:
    realm: ${KD_REGISTRY_TOKEN_REALM}
    service: $TOKEN_SERVICE
    issuer: $TOKEN_ISSUER
    rootcertbundle: $dir/token.crt" ;;
    anonymous) auth="" ;;
  esac
  cat >"$dir/config.yml.new" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$port
  secret: $(cat "$dir/http-secret")
$auth
EOF
}

start() {
  ensure_packages
  if [ "$mode" = token ] && [ -z "${KD_REGISTRY_TOKEN_REALM:-}" ]; then
    echo "token mode needs KD_REGISTRY_TOKEN_REALM (the token server's URL)" >&2
    exit 1
  fi
  mkdir -p "$dir/storage"
  chmod 700 "$BASE_DIR" "$dir"
  [ -s "$dir/http-secret" ] || od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$dir/http-secret"
  if [ "$mode" = basic ]; then
    htpasswd -Bbn "$REG_USER" "$REG_PASSWORD" >"$dir/htpasswd.new" 2>/dev/null
    # Rewrite only when the credentials changed, so a running registry is not restarted.
    if ! htpasswd -vb "$dir/htpasswd" "$REG_USER" "$REG_PASSWORD" >/dev/null 2>&1; then
      mv "$dir/htpasswd.new" "$dir/htpasswd"
    else
      rm -f "$dir/htpasswd.new"
    fi
  fi
  if [ "$mode" = token ] && [ ! -s "$dir/token.crt" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$TOKEN_ISSUER" \
      -keyout "$dir/token.key" -out "$dir/token.crt" >/dev/null 2>&1
  fi

  local pid port i
  if pid=$(running_pid); then
    port="${KD_REGISTRY_PORT:-$(current_port)}"
    write_config "$port"
    if cmp -s "$dir/config.yml" "$dir/config.yml.new" \
      && { [ "$mode" != basic ] || [ ! "$dir/htpasswd" -nt "$dir/config.yml" ]; }; then
      rm -f "$dir/config.yml.new"
      echo "http://127.0.0.1:$port"
      return
    fi
    # The configuration changed (credentials, token realm): restart on the
    # same port, keeping the images.
    stop_mode keep
    for ((i = 0; i < 50; i++)); do port_in_use "$port" || break; sleep 0.1; done
  else
    port=$(choose_port)
  fi

  if port_in_use "$port"; then
    echo "port $port is already in use" >&2
    exit 1
  fi
  write_config "$port"
  mv "$dir/config.yml.new" "$dir/config.yml"
  echo "$port" >"$dir/port"
  # A clean environment: the registry also reads REGISTRY_* variables.
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$dir" \
    "$REGISTRY_BIN" serve "$dir/config.yml" </dev/null >"$dir/registry.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/pid"
  for ((i = 0; i < 100; i++)); do
    # (Its command line may not be the registry's yet: check the process itself.)
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "the registry exited; its log ($dir/registry.log):" >&2
      tail -n 20 "$dir/registry.log" >&2
      exit 1
    fi
    port_in_use "$port" && { echo "http://127.0.0.1:$port"; return; }
    sleep 0.1
  done
  echo "the registry did not listen on 127.0.0.1:$port within 10s; log: $dir/registry.log" >&2
  stop_mode
  exit 1
}

# Stops this mode's registry; deletes its directory (images included) unless told to keep it.
stop_mode() {
  local pid i
  if pid=$(running_pid); then
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      [ -d "/proc/$pid" ] || break
      sleep 0.1
    done
    [ -d "/proc/$pid" ] && kill -9 "$pid" 2>/dev/null || true
  fi
  [ "${1:-}" = keep ] && return 0
  case "$dir" in
    "$BASE_DIR"/*) rm -rf "$dir" ;;
  esac
}

case "$command_name" in
  start)
    start
    ;;
  stop)
    if [ -n "${2:-}" ]; then
      stop_mode
    else
      for mode in basic token anonymous; do
        dir="$BASE_DIR/$mode"
        stop_mode
      done
    fi
    ;;
  running)
    running_pid >/dev/null
    ;;
  url)
    running_pid >/dev/null || { echo "the $mode registry is not running" >&2; exit 1; }
    echo "http://127.0.0.1:$(current_port)"
    ;;
  env)
    running_pid >/dev/null || { echo "the $mode registry is not running" >&2; exit 1; }
    port=$(current_port)
    echo "KD_REGISTRY_URL=http://127.0.0.1:$port"
    echo "KD_REGISTRY_HOST=127.0.0.1:$port"
    if [ "$mode" != anonymous ]; then
      echo "KD_REGISTRY_USER=$REG_USER"
      echo "KD_REGISTRY_PASSWORD=$REG_PASSWORD"
    fi
    if [ "$mode" = token ]; then
      echo "KD_REGISTRY_TOKEN_REALM=$(sed -n 's/^    realm: //p' "$dir/config.yml")"
      echo "KD_REGISTRY_TOKEN_SERVICE=$TOKEN_SERVICE"
      echo "KD_REGISTRY_TOKEN_ISSUER=$TOKEN_ISSUER"
      echo "KD_REGISTRY_TOKEN_KEY=$dir/token.key"
      echo "KD_REGISTRY_TOKEN_CERT=$dir/token.crt"
    fi
    ;;
  *)
    usage
    ;;
esac
