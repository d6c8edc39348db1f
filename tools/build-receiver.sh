#!/usr/bin/env bash
# Builds fleetboot-receive as a static musl binary (what the deploy agent's initramfs embeds),
# checks that it is static, and prints its path. Every dependency of the receiver is pure
# Rust, so no C cross toolchain is needed: only the Rust target, added here if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-musl
if ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi
# Stripped: the workspace keeps line tables in release builds for profiling servers; an
# initramfs wants the bytes. Only this target's build sees these settings.
CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=symbols \
  cargo build --release --locked -p fleetboot-receive --target "$target" >&2
bin=target/$target/release/fleetboot-receive
if ! command -v file >/dev/null; then
  tools/install-packages.sh file
fi
description=$(file -L "$bin")
case $description in
  *"statically linked"* | *"static-pie linked"*) ;;
  *)
    echo "build-receiver: $bin is not statically linked: $description" >&2
    exit 1
    ;;
esac
echo "build-receiver: $(stat -c %s "$bin") bytes, static" >&2
echo "$bin"
