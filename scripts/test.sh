#!/usr/bin/env bash
# Runs caixa's whole test suite (as root): lint, every test on this host's
# cgroup hierarchy, the cgroup tests again on unified cgroup v2 in a VM, and a
# final check that nothing of caixa was left behind.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
source scripts/private-dockerd.sh
trap ci_dockerd_stop EXIT
export CARGO_TERM_COLOR=never RUST_BACKTRACE=1

echo "== lint"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests on the host ($(stat -fc %T /sys/fs/cgroup) at /sys/fs/cgroup)"
cargo build --workspace --locked
ci_dockerd_start
# caixa-oci's, caixa-cgroups' and caixa-seccomp's tests fork children inside
# the test process (setup code must run in a real child); a fork while another
# test thread holds the allocator's lock can hang the child, so those crates'
# tests run one at a time.
cargo test --workspace --exclude caixa-oci --exclude caixa-cgroups --exclude caixa-seccomp --locked --no-fail-fast
cargo test -p caixa-oci -p caixa-cgroups -p caixa-seccomp --locked --no-fail-fast -- --test-threads=1

ci_dockerd_stop

echo "== cgroup v2 tests in a VM"
scripts/test-v2.sh

echo "== leak check"
scripts/leak-check.sh
