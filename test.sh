#!/usr/bin/env bash
# Run every test of the workspace: unit, integration and doc tests.
# Installs what the tests need first (only rustup is assumed to be present).
set -euo pipefail
cd "$(dirname "$0")"

# A toolchain, and the targets the no_std / WebAssembly builds and the WASI guests use.
if ! rustup show active-toolchain >/dev/null 2>&1; then
    rustup toolchain install stable --profile minimal
    rustup default stable
fi
rustup target add wasm32-unknown-unknown thumbv7em-none-eabihf wasm32-wasip2

if cargo nextest --version >/dev/null 2>&1; then
    # nextest runs each test in its own process; it does not run doc tests.
    cargo nextest run --workspace --no-fail-fast
    cargo test --workspace --doc
else
    # cargo test runs the doc tests too.
    cargo test --workspace --no-fail-fast
fi
