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
