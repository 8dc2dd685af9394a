#!/usr/bin/env bash
# Tulip's main job: run the bundled echo guest (a WASI 0.2 component built from
# guest-sdk/examples/echo.rs) under the `tulip` command, with one grant: listening on a
# loopback port. Try it with `nc 127.0.0.1 7000` (or telnet); Ctrl-C stops it.
#
# Usage: ./run.sh [PORT]   (default 7000)
set -euo pipefail
cd "$(dirname "$0")"
port="${1:-7000}"

if ! rustup show active-toolchain >/dev/null 2>&1; then
    rustup toolchain install stable --profile minimal
    rustup default stable
fi
rustup target add wasm32-wasip2

target_dir="${CARGO_TARGET_DIR:-target}"
cargo build -p guest-sdk --example echo --target wasm32-wasip2 --release
# A debug build of the host: a release build of wasmtime takes many minutes on a small
# machine, and the guest is compiled to native code once at start either way.
cargo build -p host-wasi --bin tulip
exec "$target_dir/debug/tulip" run \
    "$target_dir/wasm32-wasip2/release/examples/echo.wasm" \
    --listen "127.0.0.1:$port" -- "127.0.0.1:$port"
