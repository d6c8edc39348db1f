#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need, checks format and
# lints, then runs every test twice — on the io_uring driver and on the epoll fallback.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh test
export CARGO_TERM_COLOR=never
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --locked
export FLEETBOOT_BIN="$PWD/target/debug/fleetboot"
echo "== test suite, io_uring driver"
FLEETBOOT_TEST_DRIVER=io-uring cargo test --workspace --locked
echo "== test suite, epoll driver"
FLEETBOOT_TEST_DRIVER=epoll cargo test --workspace --locked -p fleetboot-tests
