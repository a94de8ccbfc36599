#!/usr/bin/env bash
# Stops the emulators recorded in $RUN_DIR/pids, by PID: TERM, then KILL
# after 10 s. A PID is signalled only while its command line still names the
# program we started (a recycled PID is left alone). Removes the env file,
# the etcd data and the keys; keeps the logs unless --purge, which removes
# the whole run directory (what the Rust harness does for its private sets).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
quiet=false purge=false
for arg in "$@"; do
    case "$arg" in
        --quiet) quiet=true ;;
        --purge) purge=true ;;
        *) die "unknown argument $arg (use --quiet, --purge)" ;;
    esac
done
say() { $quiet || log "$@"; }

PIDS="$RUN_DIR/pids"
# The env file goes first: from here on nobody should start using this set.
rm -f "$RUN_DIR/env"

# ours NAME PID: is PID still the process we started as NAME?
ours() {
    local cmdline
    cmdline="$(tr '\0' ' ' <"/proc/$2/cmdline" 2>/dev/null)" || return 1
    case "$1" in
        moto) [[ "$cmdline" == *moto_server.py* ]] ;;
        watchdog) [[ "$cmdline" == *down.sh* ]] ;;
        *) [[ "$cmdline" == *"$1"* ]] ;;
    esac
}

stop() {
    local name="$1" file="$PIDS/$1" pid
    [[ -f "$file" ]] || return 0
    pid="$(cat "$file")"
    if [[ "$pid" =~ ^[0-9]+$ ]] && ours "$name" "$pid"; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 50); do
            ours "$name" "$pid" || break
            sleep 0.2
        done
        if ours "$name" "$pid"; then
            say "$name (pid $pid) ignored TERM; killing"
            kill -KILL "$pid" 2>/dev/null
        fi
        say "stopped $name (pid $pid)"
    fi
    rm -f "$file"
}

if [[ -d "$PIDS" ]]; then
    # The watchdog first (unless we ARE the watchdog), then clients before
    # servers.
    if [[ -f "$PIDS/watchdog" && "$(cat "$PIDS/watchdog")" != "$$" ]]; then
        stop watchdog
    fi
    for name in kube-controller-manager kube-apiserver etcd moto; do
        stop "$name"
    done
    rm -f "$PIDS/watchdog"
fi
rm -rf "$RUN_DIR/etcd" "$RUN_DIR/pki" "$RUN_DIR/kubeconfig"
if $purge; then
    rm -rf "$RUN_DIR"
fi
say "emulators down"
