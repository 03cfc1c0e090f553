#!/usr/bin/env bash
# Builds the devcluster binaries from their Go modules, statically, with version stamps.
#
#   build-binaries.sh kubernetes <version>   -> kube-apiserver, kube-controller-manager,
#                                               kube-scheduler, kubectl
#   build-binaries.sh etcd <version>         -> etcd
#   build-binaries.sh kwok <version>         -> kwok
#   build-binaries.sh traefik <version>      -> traefik (the Gateway API proxy)
#   build-binaries.sh <component> <version> <name>...   only these binaries
#
# Binaries land in $DEVCLUSTER_CACHE_DIR/bin/<name>-<version> (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/kube-delivery/devcluster). A binary that is already there
# is not rebuilt. Each build uses a throwaway Go module under $DEVCLUSTER_CACHE_DIR/build.
set -euo pipefail

usage='usage: build-binaries.sh kubernetes|etcd|kwok|traefik <version>'
component=${1:?$usage}
version=${2:?$usage}

cache_dir=${DEVCLUSTER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-delivery/devcluster}
bin_dir=$cache_dir/bin
build_dir=$cache_dir/build/$component-$version
mkdir -p "$bin_dir" "$build_dir"

export CGO_ENABLED=0
export GOFLAGS=-mod=mod
export GOTOOLCHAIN=local
# Keep the machine usable: at most this many packages compiled at once.
parallel=${DEVCLUSTER_BUILD_PARALLELISM:-2}

log() { echo "[devcluster build] $*" >&2; }

# One build at a time per component/version (two `up`s racing must not corrupt the module).
exec 9>"$build_dir.lock"
flock 9

# Prints the binary names a component produces.
case "$component" in
  kubernetes) names=(kube-apiserver kube-controller-manager kube-scheduler kubectl) ;;
  etcd) names=(etcd) ;;
  kwok) names=(kwok) ;;
  traefik) names=(traefik) ;;
  *) echo "unknown component $component" >&2; exit 2 ;;
esac
# Optional: only these binaries (e.g. just kubectl when using your own cluster).
[[ $# -gt 2 ]] && names=("${@:3}")

missing=()
for n in "${names[@]}"; do
  [[ -x $bin_dir/$n-$version ]] || missing+=("$n")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  log "$component $version: cached in $bin_dir"
  exit 0
fi

# `go mod download -json` prints a field of the module's JSON description.
mod_field() { # module@version field
  go mod download -json "$1" | sed -n "s/^[[:space:]]*\"$2\": \"\(.*\)\",\{0,1\}\$/\1/p"
}

write_gomod() { # module-require-lines...
  {
    echo "module kube-delivery.invalid/devcluster-build/$component"
    echo
    echo "go 1.26.0"
    echo
    echo "require ("
    printf '\t%s\n' "$@"
    echo ")"
  } >"$build_dir/go.mod"
}

start=$(date +%s)
case "$component" in
  kubernetes)
    # The release's own go.mod replaces every staging module with ./staging/src/k8s.io/x.
    # Outside the kubernetes repo those become the published k8s.io/x v0.<minor>.<patch>.
    gomod=$(mod_field "k8s.io/kubernetes@$version" GoMod)
    staging_version="v0.${version#v1.}"
    write_gomod "k8s.io/kubernetes $version"
    {
      echo
      echo "// Generated from k8s.io/kubernetes@$version go.mod by build-binaries.sh."
      echo "replace ("
      awk -v sv="$staging_version" '
        $2 == "=>" && $3 ~ /^\.\/staging\/src\// { printf "\t%s => %s %s\n", $1, $1, sv }
      ' "$gomod"
      echo ")"
    } >>"$build_dir/go.mod"
    replaces=$(grep -c ' => ' "$build_dir/go.mod" || true)
    [[ $replaces -gt 0 ]] || { echo "no staging replace lines found in $gomod" >&2; exit 1; }
    log "kubernetes $version: generated $replaces staging replace lines"
    minor=${version#v1.}; minor=${minor%%.*}
    build_date=$(mod_field "k8s.io/kubernetes@$version" Info | xargs sed -n 's/.*"Time":"\([^"]*\)".*/\1/p')
    ldflags="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
      ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=module-$version -X $pkg.buildDate=${build_date:-1970-01-01T00:00:00Z}"
    done
    pkgs=()
    for n in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$n"); done
    ;;
  etcd)
    # The etcd main package lives in the go.etcd.io/etcd/server/v3 module (main.go).
    write_gomod "go.etcd.io/etcd/server/v3 $version"
    ldflags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=module-$version"
    pkgs=(go.etcd.io/etcd/server/v3)
    ;;
  kwok)
    write_gomod "sigs.k8s.io/kwok $version"
    ldflags="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${version#v} -X sigs.k8s.io/kwok/pkg/consts.PreRelease=GA"
    pkgs=(sigs.k8s.io/kwok/cmd/kwok)
    ;;
  traefik)
    # Traefik's go.mod replaces three modules with forks; outside its repo those lines
    # must be in the main module, so they are copied from the release's own go.mod.
    gomod=$(mod_field "github.com/traefik/traefik/v3@$version" GoMod)
    write_gomod "github.com/traefik/traefik/v3 $version"
    {
      echo
      echo "// Copied from github.com/traefik/traefik/v3@$version go.mod by build-binaries.sh."
      echo "replace ("
      awk '/^replace \($/ { on = 1; next } on && /^\)/ { on = 0 } on && / => / { print }' "$gomod"
      echo ")"
    } >>"$build_dir/go.mod"
    replaces=$(grep -c ' => ' "$build_dir/go.mod" || true)
    [[ $replaces -gt 0 ]] || { echo "no replace lines found in $gomod" >&2; exit 1; }
    ldflags="-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$version"
    pkgs=(github.com/traefik/traefik/v3/cmd/traefik)
    ;;
esac

cd "$build_dir"
out=$(mktemp -d "$build_dir/out.XXXXXX")
trap 'rm -rf "$out"' EXIT
log "$component $version: building ${missing[*]} (go build -p $parallel; this takes a while on a cold cache)"
go build -p "$parallel" -trimpath -ldflags "$ldflags" -o "$out/" "${pkgs[@]}"
for n in "${missing[@]}"; do
  src=$out/$n
  # A single package is written under its own name (go.etcd.io/etcd/server/v3 -> "server").
  [[ -f $src || ${#pkgs[@]} -ne 1 ]] || src=$(find "$out" -maxdepth 1 -type f | head -1)
  mv -f "$src" "$bin_dir/$n-$version"
done
log "$component $version: built ${missing[*]} in $(( $(date +%s) - start ))s"
