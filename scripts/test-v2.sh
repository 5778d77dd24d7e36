#!/usr/bin/env bash
# Runs the tests that depend on the cgroup hierarchy inside a throw-away VM
# with unified cgroup v2 (../shared/tools/run-in-v2vm). Test binaries are
# built on the host and executed in the guest.
set -euo pipefail
cd "$(dirname "$0")/.."
vm=${V2VM:-../shared/tools/run-in-v2vm}
[ -x "$vm" ] || { echo "test-v2: $vm not found" >&2; exit 1; }
# Test targets (package:test[:filter,filter...]) that must also pass on cgroup
# v2. The engine's tests are slow in the emulated VM, so only those whose
# subject depends on the cgroup version run there (stats, OOM, explain,
# update/pause, security defaults).
targets=(caixa-cgroups:cgroups caixa-runtime:limits caixa-runtime:ops caixa-runtime:lifecycle caixa-runtime:rootfs_e2e
         caixa-runtime:rootless caixa-runtime:integration_extras
         caixa-cli:containers_supervision:oom,stats,explain
         caixa-cli:containers_commands:create_start,security)
bins=()
for t in "${targets[@]}"; do
    pkg=${t%%:*} rest=${t#*:}
    name=${rest%%:*} filters=
    [ "$rest" != "$name" ] && filters=$(echo "${rest#*:}" | tr , ' ')
    dir=${pkg#caixa-}
    if [ ! -f "crates/$dir/tests/$name.rs" ]; then echo "test-v2: skipping $t (no such test yet)"; continue; fi
    bin=$(cargo test -p "$pkg" --test "$name" --no-run --locked --message-format=json 2>/dev/null \
        | sed -n 's/.*"executable":"\([^"]*\/deps\/[^"]*\)".*/\1/p' | tail -n 1)
    [ -n "$bin" ] || { echo "test-v2: could not build $t" >&2; exit 1; }
    bins+=("$bin $filters")
done
cargo build -p caixa-runtime -p caixa-monitor -p caixa-cli --locked
script="set -e; export CAIXA_RUNTIME_BIN=$PWD/target/debug/caixa-runtime"
for b in "${bins[@]}"; do script+="; echo '== v2: $b'; $b --test-threads=2"; done
V2VM_TIMEOUT=${V2VM_TIMEOUT:-1800} "$vm" "$PWD" "$script"
