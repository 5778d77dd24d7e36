#!/usr/bin/env bash
# Times the full lifecycle of `true` (create + start + wait + delete) in the
# same busybox bundle with caixa-runtime, crun and runc, in one run, and prints
# each median and the ratio to crun.  Usage: benches/lifecycle.sh [RUNS]
# Needs root.  crun needs hugetlb off cgroup2 on hybrid hosts (done here).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
caixa=${CAIXA_RUNTIME_BIN:-$PWD/target/release/caixa-runtime}
[ -x "$caixa" ] || cargo build --release -p caixa-runtime >/dev/null
if [ ! -d /sys/fs/cgroup/hugetlb ] && [ "$(stat -fc %T /sys/fs/cgroup)" = tmpfs ]; then
    mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb || true
fi
work=$(mktemp -d /tmp/caixa-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/"
ln -s busybox "$work/rootfs/bin/true"; ln -s busybox "$work/rootfs/bin/sh"
cd "$work"
"$caixa" spec
# Same spec for all: args ["true"], no terminal.
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"true"/' config.json
grep -q '"true"' config.json || { echo "bench: could not edit config.json" >&2; exit 1; }

median_ms() { # runtime-binary -> prints the median ms over $runs lifecycles
    local rt=$1 name
    name=$(basename "$rt")
    hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/$name.json" \
        "$rt --root $work/state-$name run bench" >/dev/null 2>&1 || { echo "bench: $rt run failed" >&2; return 1; }
    sed -n 's/.*"median": *\([0-9.e-]*\).*/\1/p' "$work/$name.json" | head -n 1 | awk '{printf "%.2f\n", $1 * 1000}'
}
declare -A med
for rt in "$caixa" crun runc; do
    command -v "$rt" >/dev/null || { echo "bench: $rt not found, skipped"; continue; }
    med[$rt]=$(median_ms "$rt")
done
echo "lifecycle of \`true\` (run = create+start+wait+delete), median of $runs runs:"
for rt in "$caixa" crun runc; do
    [ -n "${med[$rt]:-}" ] || continue
    ratio=$(awk -v a="${med[$rt]}" -v b="${med[crun]:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
    printf '  %-16s %8s ms   %s x crun\n' "$(basename "$rt")" "${med[$rt]}" "$ratio"
done
