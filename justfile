# stackplan's tasks. `just` lists them.

set shell := ["bash", "-euo", "pipefail", "-c"]

default:
    @just --list

# Format check, clippy with warnings as errors, and every test.
test: fmt-check lint
    cargo test --workspace --all-targets --locked
    cargo test --workspace --doc --locked

# What CI runs.
ci: test

fmt-check:
    cargo fmt --all -- --check

lint:
    cargo clippy --workspace --all-targets --locked -- -D warnings

# Build the binary.
build:
    cargo build --locked -p stackplan-cli

# The release profile (fat LTO, one codegen unit, stripped) takes about 50
# minutes on 2 cores from clean, so it builds niced in its own target
# directory and never holds the debug build's lock; prints size and version.
# Build the binary users install (the release profile).
release:
    CARGO_TARGET_DIR="${STACKPLAN_RELEASE_TARGET:-$HOME/.cache/stackplan-release-target}" \
        nice -n 19 cargo build --release --locked -p stackplan-cli
    bin="${STACKPLAN_RELEASE_TARGET:-$HOME/.cache/stackplan-release-target}/release/stackplan"; \
        ls -l "$bin"; "$bin" --version

# --- Emulators (tests/harness/README.md) ---------------------------------
# moto (with stackplan's extensions), a real kube-apiserver with etcd and
# kube-controller-manager, and helm, for the integration tests and the demo.

# Install or build everything the emulators need, cached in ~/.cache/stackplan-test.
emulators-install:
    tests/harness/install.sh

# Start the emulators on free 127.0.0.1 ports; writes target/emulators/env.
emulators-up:
    tests/harness/up.sh

# Stop the emulators started by emulators-up, by PID.
emulators-down:
    tests/harness/down.sh

# Show whether the emulators are up, and prove it (STS call, /readyz, helm).
emulators-status:
    tests/harness/status.sh

# Plan CPU time and peak memory for 1,000 vs 10,000 resources on fake providers, and their growth.
bench:
    cargo bench -p stackplan-engine --bench plan_scale

# The main job: the reference stack planned, applied, drift-checked and
# destroyed against the local emulators (scripts/demo.sh).
demo:
    scripts/demo.sh

# Fault tests, long variant: apply killed with -9 at twenty random moments,
# each followed by apply again (crates/stackplan-cli/tests/faults.rs);
# STACKPLAN_FAULT_SEED=N replays a run's kill moments.
fault-tests-long:
    cargo test --locked -p stackplan-cli --test faults -- --ignored --nocapture

# Plan with 50 ms per AWS call vs the sum of read latencies, and apply under
# the EKS/node group/MSK latency model vs its critical path, side by side
# (scripts/bench_apply.py, against private emulator sets). It measures the
# release build, what users run; the first build of it takes ~15 minutes.
bench-apply:
    cargo build --release --locked -q -p stackplan-cli
    scripts/bench_apply.py --binary target/release/stackplan
