#!/usr/bin/env bash
# Cross-builds the agent for a Raspberry Pi 4/5 (aarch64-unknown-linux-gnu, 64-bit OS), prints
# the packaged binary's stripped size, and runs the agent's unit tests and a short demo under
# qemu-user. Not part of ./tests/run: about 30 minutes on 2 cores. Installs what it needs on a
# Debian machine (as root): the Rust target, gcc-aarch64-linux-gnu, qemu-user-static.
#
#   tests/pi/cross.sh            # everything
#   tests/pi/cross.sh --size     # only the packaged binary and its size
set -euo pipefail
cd "$(dirname "$0")/../.."

TARGET=aarch64-unknown-linux-gnu
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
OUT="$CARGO_TARGET_DIR/$TARGET/release"

rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
missing=()
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v qemu-aarch64-static >/dev/null || command -v qemu-aarch64 >/dev/null || missing+=(qemu-user-static)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "cross.sh needs: ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi
QEMU=$(command -v qemu-aarch64-static || command -v qemu-aarch64)
# The aarch64 C library for qemu's dynamic loader.
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu

# 1. The binary the package ships: no demo, no training, the `deb` profile (whole-program
#    optimisation, symbols stripped).
cargo build --profile deb --target "$TARGET" -p agent --no-default-features
DEB="$CARGO_TARGET_DIR/$TARGET/deb"
size=$(stat -c %s "$DEB/agent")
echo "aarch64 packaged binary (stripped): $size bytes ($((size / 1024 / 1024)) MiB)"
"$QEMU" "$DEB/agent" --version
[ "${1:-}" = "--size" ] && exit 0

# 2. The agent's unit tests, built for aarch64 and run under qemu-user.
tests=$(cargo test --release --target "$TARGET" -p agent --lib --no-run --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
echo "unit tests: $tests"
"$QEMU" "$tests" --test-threads 2

# 3. A short demo (the binary with the demo feature) under qemu-user, checked over HTTP.
cargo build --release --target "$TARGET" -p agent
demo_dir=$(mktemp -d)
port=18480
"$QEMU" "$OUT/agent" demo --listen "127.0.0.1:$port" --store "$demo_dir/demo.db" >"$demo_dir/out" 2>"$demo_dir/err" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$demo_dir"' EXIT
good=0
for _ in $(seq 1 120); do
  sleep 1
  body=$(curl -fsS "http://127.0.0.1:$port/api/signals" 2>/dev/null || true)
  # grep finds nothing until the agent answers: not a failure of the script (pipefail).
  total=$( (grep -o '"quality":"[a-z]*"' <<<"$body" || true) | wc -l)
  good=$( (grep -o '"quality":"good"' <<<"$body" || true) | wc -l)
  if [ "$total" -gt 0 ] && [ "$good" -eq "$total" ]; then break; fi
done
echo "demo under qemu: $good of $total signals good"
kill "$pid"
wait "$pid" || true
[ "$total" -gt 0 ] && [ "$good" -eq "$total" ] || { cat "$demo_dir/err" >&2; exit 1; }
