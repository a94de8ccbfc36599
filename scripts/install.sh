#!/usr/bin/env bash
# Installs a pinned stackplan release binary, checksum-verified, in seconds
# and without a Rust toolchain (issue 16).
#
#   scripts/install.sh --repo OWNER/NAME --version 0.1.0 [--dir DIR]
#                      [--sha256 HEX] [--target TRIPLE]
#
# It downloads stackplan-VERSION-TARGET.tar.gz and the release's SHA256SUMS
# from the GitHub release vVERSION of OWNER/NAME (what
# examples/github-actions/release.yml publishes; --base-url URL instead of
# --repo takes them from URL/vVERSION/), checks the archive's
# SHA-256 against SHA256SUMS and, with --sha256, against a checksum pinned
# by the caller too (SHA256SUMS comes from the same place as the archive,
# so only a pinned checksum also guards against a replaced release). Any
# mismatch stops before anything is installed. Then it installs DIR/stackplan
# (default ~/.local/bin) and runs `stackplan --version`.
#
# Every option has an environment variable: STACKPLAN_REPO,
# STACKPLAN_VERSION, STACKPLAN_INSTALL_DIR, STACKPLAN_SHA256,
# STACKPLAN_DOWNLOAD_URL, STACKPLAN_TARGET. The URL may be file:// (the
# tests use it).
#
# Exit codes: 0 installed; 1 download, checksum or install failure; 2 usage.
set -euo pipefail

version="${STACKPLAN_VERSION:-}"
dir="${STACKPLAN_INSTALL_DIR:-$HOME/.local/bin}"
pinned="${STACKPLAN_SHA256:-}"
base_url="${STACKPLAN_DOWNLOAD_URL:-}"
repo="${STACKPLAN_REPO:-}"
target="${STACKPLAN_TARGET:-}"

log() { printf 'install.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --version) version="${2:?--version needs a value}"; shift 2 ;;
        --dir) dir="${2:?--dir needs a value}"; shift 2 ;;
        --sha256) pinned="${2:?--sha256 needs a value}"; shift 2 ;;
        --repo) repo="${2:?--repo needs a value}"; shift 2 ;;
        --base-url) base_url="${2:?--base-url needs a value}"; shift 2 ;;
        --target) target="${2:?--target needs a value}"; shift 2 ;;
        -h|--help) usage ;;
        *) log "unknown argument: $1"; usage ;;
    esac
done

[[ -n "$version" ]] || { log "--version (or STACKPLAN_VERSION) is required: a pinned version, never 'latest'"; usage; }
version="${version#v}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]] \
    || die "version '$version' is not a release version like 0.1.0"
if [[ -z "$base_url" ]]; then
    [[ -n "$repo" ]] || { log "--repo OWNER/NAME (or --base-url) is required: where stackplan's releases are"; usage; }
    [[ "$repo" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || die "--repo '$repo' is not OWNER/NAME"
    base_url="https://github.com/$repo/releases/download"
fi
if [[ -n "$pinned" ]]; then
    pinned="$(printf '%s' "$pinned" | tr 'A-F' 'a-f')"
    [[ "$pinned" =~ ^[0-9a-f]{64}$ ]] || die "--sha256 must be 64 hex digits"
fi

# The release's targets (release.yml): static musl binaries on Linux, so one
# binary runs on any distribution; native ones on macOS.
if [[ -z "$target" ]]; then
    os="$(uname -s)"
    arch="$(uname -m)"
    case "$arch" in
        x86_64|amd64) arch=x86_64 ;;
        aarch64|arm64) arch=aarch64 ;;
        *) die "no stackplan release for the $arch architecture; build it with cargo install --locked --path crates/stackplan-cli" ;;
    esac
    case "$os" in
        Linux) target="$arch-unknown-linux-musl" ;;
        Darwin) target="$arch-apple-darwin" ;;
        *) die "no stackplan release for $os; build it with cargo install --locked --path crates/stackplan-cli" ;;
    esac
fi

sha256_of() {
    if command -v sha256sum >/dev/null; then
        sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null; then
        shasum -a 256 "$1" | cut -d' ' -f1
    else
        die "neither sha256sum nor shasum is installed; cannot verify the download"
    fi
}

fetch() {
    # https only (no redirect to http), or a local file:// release.
    curl --proto '=https,file' --proto-redir '=https' --tlsv1.2 \
        --fail --silent --show-error --location --retry 3 \
        --output "$2" "$1"
}

asset="stackplan-$version-$target.tar.gz"
url="${base_url%/}/v$version"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

log "downloading $asset from $url"
fetch "$url/$asset" "$work/$asset" || die "could not download $url/$asset"
fetch "$url/SHA256SUMS" "$work/SHA256SUMS" || die "could not download $url/SHA256SUMS"

# SHA256SUMS lines are `<hex>  <file>` (sha256sum's format).
listed="$(awk -v f="$asset" '$2 == f || $2 == "*" f { print $1 }' "$work/SHA256SUMS")"
[[ -n "$listed" ]] || die "SHA256SUMS of v$version does not list $asset"
actual="$(sha256_of "$work/$asset")"
[[ "$actual" == "$listed" ]] \
    || die "checksum mismatch for $asset: SHA256SUMS says $listed, the download is $actual; nothing installed"
if [[ -n "$pinned" && "$actual" != "$pinned" ]]; then
    die "checksum mismatch for $asset: pinned $pinned, the download is $actual; nothing installed"
fi

mkdir "$work/x"
tar -xzf "$work/$asset" -C "$work/x"
bin="$work/x/stackplan-$version-$target/stackplan"
[[ -f "$bin" ]] || die "$asset has no stackplan-$version-$target/stackplan"

mkdir -p "$dir"
# Through a temporary name in the same directory, so a running stackplan is
# never overwritten in place and a failed copy leaves the old one.
install -m 0755 "$bin" "$dir/.stackplan.tmp.$$"
mv -f "$dir/.stackplan.tmp.$$" "$dir/stackplan"
log "installed $dir/stackplan (sha256 $actual)"
"$dir/stackplan" --version >&2 || die "$dir/stackplan does not run on this machine ($target)"
