#!/usr/bin/env bash
# `caixa pull` of a multi-layer gzip image (benches/load.sh's 7-layer archive,
# ~130 MB compressed / ~330 MB of tar) from a docker-registry on 127.0.0.1
# into a fresh, never-used store each run (see load.sh). Compares binaries
# side by side: CAIXA_BIN (default target/release/caixa) and, when set,
# CAIXA_BASE (e.g. a build from before a change), alternating run by run.
# Usage: benches/pull.sh [RUNS]. Needs root and /usr/bin/docker-registry.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
caixa=${CAIXA_BIN:-$PWD/target/release/caixa}
[ -x "$caixa" ] || cargo build --release -p caixa-cli >/dev/null
archive=/var/cache/caixa-test/load-multi-gzip.tar
[ -s "$archive" ] || benches/load.sh 1 >/dev/null
work=$(mktemp -d /tmp/caixa-bench-pull.XXXXXX)
reg_pid=
trap '[ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
EOF
/usr/bin/docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
reg_pid=$!
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

img=127.0.0.1:$port/caixa-bench/pull:latest
"$caixa" --root "$work/src" load -i "$archive" >/dev/null
"$caixa" --root "$work/src" tag caixa-bench/load:latest "$img"
"$caixa" --root "$work/src" push -q "$img" >/dev/null
echo "image: $(du -h "$archive" | cut -f1) archive, 7 gzip layers, pulled from 127.0.0.1"

# Alternate the binaries run by run (the host is shared: load drifts), fresh
# store each time, synced; print each binary's median wall time.
bins=("$caixa")
[ -n "${CAIXA_BASE:-}" ] && bins+=("$CAIXA_BASE")
declare -A times
for run in $(seq 0 "$runs"); do
    for b in "${bins[@]}"; do
        r=$(mktemp -d "$work/root.XXXXXX")
        t0=$(date +%s.%N)
        "$b" --root "$r" pull -q "$img" >/dev/null
        sync
        t1=$(date +%s.%N)
        # Run 0 warms the registry's page cache and is not counted.
        [ "$run" = 0 ] || times[$b]+="$(echo "$t1 - $t0" | bc) "
    done
done
for b in "${bins[@]}"; do
    printf '%s: median %s s of: %s\n' "$b" \
        "$(echo "${times[$b]}" | tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" \
        "${times[$b]}"
done
