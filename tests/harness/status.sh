#!/usr/bin/env bash
# Reports whether the emulators in $RUN_DIR are up, and proves it: every
# recorded process is alive, moto answers STS GetCallerIdentity, and the
# kube-apiserver answers /readyz and lists the gp2 StorageClass.
# --quiet: no output, exit status only (0 = up).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
quiet=false
[[ "${1:-}" == "--quiet" ]] && quiet=true
say() { $quiet || printf '%s\n' "$*"; }

if [[ ! -f "$RUN_DIR/env" ]]; then
    say "emulators: down (no $RUN_DIR/env; run \`just emulators-up\`)"
    exit 1
fi
# shellcheck source=/dev/null
source "$RUN_DIR/env"
ok=true
for entry in $STACKPLAN_EMULATORS_PIDS; do
    name="${entry%%=*}" pid="${entry#*=}"
    if kill -0 "$pid" 2>/dev/null; then
        say "  $name: running, pid $pid"
    else
        say "  $name: NOT running (pid $pid)"
        ok=false
    fi
done
$ok || { say "emulators: broken (see $RUN_DIR/logs; \`just emulators-down\` then \`just emulators-up\`)"; exit 1; }
$quiet && exit 0

identity="$("$VENV_DIR/bin/python" - <<'PY' 2>&1
import boto3
sts = boto3.client("sts")  # endpoint, region and keys from the env file
print(sts.get_caller_identity()["Arn"])
PY
)" || { say "  moto: NOT answering: $identity"; exit 1; }
say "  moto: $AWS_ENDPOINT_URL answers STS GetCallerIdentity as $identity"
ready="$("$STACKPLAN_KUBECTL" get --raw /readyz 2>&1)" || { say "  kube-apiserver: NOT ready: $ready"; exit 1; }
version="$("$STACKPLAN_KUBECTL" version -o json 2>/dev/null | "$VENV_DIR/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')"
say "  kube-apiserver: $STACKPLAN_KUBE_SERVER /readyz=$ready, $version"
say "  storageclasses: $("$STACKPLAN_KUBECTL" get storageclass -o name | tr '\n' ' ')"
say "  helm: $("$STACKPLAN_HELM" version --short) at $STACKPLAN_HELM"
say "emulators: up; \`source $RUN_DIR/env\`"
