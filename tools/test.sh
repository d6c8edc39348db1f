#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need, checks format,
# lints and doc links, then runs every test on the io_uring driver and the integration tests again on the
# epoll fallback and the HTTP tests once more with bodies written from the mapping, after a bounded fuzz run of the hostile-input parsers, then checks the admin
# API against its OpenAPI document with schemathesis (counted as one test). Ends with one
# summary line: "suite: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh test
export CARGO_TERM_COLOR=never
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Doc links are checked too: the module docs are how a newcomer walks the house.
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --document-private-items --locked -q
cargo build --workspace --locked
tools/fuzz.sh 30
export FLEETBOOT_BIN="$PWD/target/debug/fleetboot"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
echo "== test suite, io_uring driver"
FLEETBOOT_TEST_DRIVER=io-uring cargo test --workspace --locked 2>&1 | tee -a "$log" || status=1
echo "== integration tests, epoll driver"
FLEETBOOT_TEST_DRIVER=epoll cargo test --locked -p fleetboot-tests --test tftp_clients --test tftp_limits --test http_ranges --test http_limits --test robustness --test iso_images --test proxy_dhcp --test boot_script --test client_table --test iso_override --test iso_layouts --test boot_storm --test api_clients --test api_images --test api_events --test api_install --test api_deploy --test install --test api_multicast --test multicast_send --test multicast 2>&1 | tee -a "$log" || status=1
echo "== HTTP tests with every file body written from the mapping (--zero-copy off; auto sends bodies from 64 KiB up by sendfile)"
FLEETBOOT_ZERO_COPY=off cargo test --locked -p fleetboot-tests --test http_ranges --test http_limits --test robustness --test boot_script 2>&1 | tee -a "$log" || status=1
echo "== admin API against its OpenAPI document (schemathesis)"
api_ok=1
tools/schemathesis.sh || { api_ok=0; status=1; }
awk -v ok=$api_ok '/^test result:/ { p += $4; f += $6 }
  END { printf "suite: %d passed, %d failed\n", p + ok, f + 1 - ok }' "$log"
exit $status
