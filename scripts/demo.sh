#!/usr/bin/env bash
# The main job, end to end against the local emulators: the reference
# deployment (stacks/milvus-local.toml, with the real Milvus chart)
# validated, planned, applied, shown
# clean, changed behind stackplan's back, caught by drift, re-applied, and
# destroyed. Every step checks its exit code; the emulators stop on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

STACK=stacks/milvus-local.toml
BIN=target/debug/stackplan

step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }

# Runs stackplan and checks its exit code against the one expected.
expect() {
    local want=$1; shift
    set +e
    "$BIN" "$@"
    local got=$?
    set -e
    if [ "$got" -ne "$want" ]; then
        echo "demo: \`stackplan $*\` exited $got, expected $want" >&2
        exit 1
    fi
}

step "Installing and starting the emulators (moto, kube-apiserver, helm)"
tests/harness/install.sh
cargo build --locked -q -p stackplan-cli
tests/harness/up.sh
trap 'step "Stopping the emulators"; tests/harness/down.sh' EXIT
# shellcheck disable=SC1091
source target/emulators/env
# helm 3: the real Milvus chart has container ports without `protocol`,
# which helm 4's server-side apply sends as is and the harness's 1.20
# apiserver refuses (fixed in 1.21; tests/harness/README.md). On EKS
# either helm works.
export STACKPLAN_HELM="$STACKPLAN_HELM_V3"
export PATH="$(dirname "$STACKPLAN_HELM"):$PATH"
# The SCRAM password comes from the environment, as in production; it is
# made here and never printed.
MSK_SCRAM_PASSWORD="demo-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export MSK_SCRAM_PASSWORD
rm -rf target/demo

step "validate"
expect 0 validate "$STACK"

step "plan (nothing exists yet: everything is a create)"
expect 2 plan "$STACK" --detailed-exitcode

step "apply"
expect 0 apply "$STACK" --yes

step "plan again: a clean apply leaves nothing to do"
expect 0 plan "$STACK" --detailed-exitcode

step "change things behind stackplan's back"
"$STACKPLAN_KUBECTL" --kubeconfig "$KUBECONFIG" -n milvus annotate serviceaccount milvus-s3-access-sa \
    eks.amazonaws.com/role-arn=arn:aws:iam::123456789012:role/hand-edited --overwrite >&2
"$STACKPLAN_KUBECTL" --kubeconfig "$KUBECONFIG" annotate storageclass gp2 \
    storageclass.kubernetes.io/is-default-class=true --overwrite >&2

step "drift catches both (exit 2)"
expect 2 drift "$STACK"
expect 2 drift "$STACK" --json

step "apply puts them back"
expect 0 apply "$STACK" --yes
expect 0 drift "$STACK"

step "destroy (stateful resources need --allow-destroy)"
expect 1 destroy "$STACK" --yes
expect 0 destroy "$STACK" --yes --allow-destroy
expect 2 plan "$STACK" --detailed-exitcode

step "demo complete"
