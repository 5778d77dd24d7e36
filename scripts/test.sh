#!/usr/bin/env bash
# Runs caixa's whole test suite (as root): lint, every test on this host's
# cgroup hierarchy, the cgroup tests again on unified cgroup v2 in a VM, and a
# final check that nothing of caixa was left behind.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
export CARGO_TERM_COLOR=never RUST_BACKTRACE=1

echo "== lint"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests on the host ($(stat -fc %T /sys/fs/cgroup) at /sys/fs/cgroup)"
cargo build --workspace --locked
cargo test --workspace --locked --no-fail-fast

echo "== cgroup v2 tests in a VM"
scripts/test-v2.sh

echo "== leak check"
scripts/leak-check.sh
