#!/usr/bin/env bash
# Builds a real kube-apiserver, kube-controller-manager and kube-scheduler
# from Debian bookworm's `kubernetes` source package and caches the binaries
# in $CACHE_DIR/kube/bin. Builds only what is missing there, so a cache from
# before the scheduler joined gains it without rebuilding the other two.
#
# Why from source: no registry we can reach ships these binaries, and Debian's
# source package carries the whole tree with vendor/, so it builds offline.
# Why `make` and not `go build`: the Makefile sets the ldflags, build tags and
# generated files the tree needs; plain `go build` fails on this tree.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KUBE_DIR="$CACHE_DIR/kube"
BIN_DIR="$KUBE_DIR/bin"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler)
missing=()
for b in "${BINARIES[@]}"; do
    [[ -x "$BIN_DIR/$b" ]] || missing+=("$b")
done
if ((${#missing[@]} == 0)); then
    log "${BINARIES[*]} cached in $BIN_DIR"
    exit 0
fi

# Build tools from Debian. dpkg-dev provides dpkg-source for `apt-get source`.
need=()
for pkg in golang-go rsync jq dpkg-dev make; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if ((${#need[@]})); then
    log "apt-get install ${need[*]}"
    apt_sudo=()
    [[ $(id -u) -eq 0 ]] || apt_sudo=(sudo)
    "${apt_sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${apt_sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# A private apt configuration holding only deb-src entries: the system's
# sources.list, lists and caches are left untouched.
APT_DIR="$KUBE_DIR/apt"
mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$KUBE_DIR/src"
cat >"$APT_DIR/sources.list" <<'SRC'
deb-src http://deb.debian.org/debian bookworm main
deb-src http://deb.debian.org/debian-security bookworm-security main
SRC
apt_opts=(
    -o "Dir::Etc::SourceList=$APT_DIR/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$APT_DIR/lists"
    -o "Dir::Cache=$APT_DIR/cache"
    -o "Dir::Cache::pkgcache="
    -o "Dir::Cache::srcpkgcache="
    -o "APT::Sandbox::User=root"
)

SRC_DIR="$KUBE_DIR/src"
find_tree() { find "$SRC_DIR" -maxdepth 1 -mindepth 1 -type d -name 'kubernetes-*' | head -n1; }
tree="$(find_tree)"
dsc="$(find "$SRC_DIR" -maxdepth 1 -name 'kubernetes_*.dsc' | sort | tail -n1)"
if [[ -z "$tree" && -n "$dsc" ]]; then
    # The source package is cached from an earlier build: unpack it offline.
    log "unpacking cached $(basename "$dsc")"
    (cd "$SRC_DIR" && dpkg-source -x "$dsc" >/dev/null)
    tree="$(find_tree)"
fi
if [[ -z "$tree" ]]; then
    log "fetching Debian's kubernetes source package"
    apt-get "${apt_opts[@]}" update -qq
    (cd "$SRC_DIR" && apt-get "${apt_opts[@]}" source -qq kubernetes)
    tree="$(find_tree)"
    [[ -n "$tree" ]] || die "apt-get source kubernetes produced no source tree in $SRC_DIR"
fi

log "building ${missing[*]} in $tree (about 3 minutes each)"
start=$SECONDS
# GOPROXY=off and GOFLAGS=-mod=vendor: the build must only use the vendored
# tree. GOTOOLCHAIN=local stops newer Go from trying to download a toolchain.
(
    cd "$tree"
    export GOPROXY=off GOFLAGS=-mod=vendor GOTOOLCHAIN=local GO111MODULE=on
    export GOCACHE="$KUBE_DIR/gocache" GOPATH="$KUBE_DIR/gopath"
    export KUBE_GIT_VERSION="${KUBE_GIT_VERSION:-v1.20.2}"
    make WHAT="${missing[*]/#/cmd/}"
) >"$KUBE_DIR/build.log" 2>&1 || {
    tail -n 40 "$KUBE_DIR/build.log" >&2
    die "kubernetes build failed; full log in $KUBE_DIR/build.log"
}
mkdir -p "$BIN_DIR"
for b in "${missing[@]}"; do
    found="$(find "$tree/_output" -type f -name "$b" -perm -u+x | head -n1)"
    [[ -n "$found" ]] || die "built tree has no $b"
    install -m 0755 "$found" "$BIN_DIR/$b.tmp"
    mv "$BIN_DIR/$b.tmp" "$BIN_DIR/$b"
done
log "built in $((SECONDS - start)) s"

# The tree and Go build cache are over a gigabyte; the binaries are all we
# keep. The source package files stay so a rebuild needs no download.
rm -rf "$tree/_output" "$KUBE_DIR/gocache" "$KUBE_DIR/gopath"
rm -rf "$tree"
