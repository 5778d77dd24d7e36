#!/usr/bin/env bash
# Times the full lifecycle of `true` (create + start + wait + delete) in the
# same busybox bundle with caixa-runtime, crun and runc in one run (hyperfine,
# interleaved in rounds), and prints each median, the ratio to crun and the
# CPU time (user+system, mean per lifecycle, all processes).
# Usage: [BENCH_ROUNDS=5] [BENCH_EXTRA=BIN...] benches/lifecycle.sh [RUNS] [--seccomp]
#   --seccomp  also runs the same bundle with Docker's default seccomp
#              profile (profiles/docker-default-seccomp.json, resolved for the
#              spec's bounding capabilities) as linux.seccomp in config.json.
# Needs root.  crun needs hugetlb off cgroup2 on hybrid hosts (done here).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=200 rounds=${BENCH_ROUNDS:-20} seccomp=0
for a in "$@"; do
    case $a in
        --seccomp) seccomp=1 ;;
        *[!0-9]* | '') echo "usage: $0 [RUNS] [--seccomp]" >&2; exit 2 ;;
        *) runs=$a ;;
    esac
done
caixa=${CAIXA_RUNTIME_BIN:-$PWD/target/release/caixa-runtime}
[ -x "$caixa" ] || cargo build --release -p caixa-runtime >/dev/null
if [ "$seccomp" = 1 ]; then
    cargo build -q -p caixa-oci --example docker_seccomp
    profile_bin=$PWD/target/debug/examples/docker_seccomp
fi
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
cp config.json config.default.json
if [ "$seccomp" = 1 ]; then
    mapfile -t caps < <(jq -r '.process.capabilities.bounding[]' config.json)
    "$profile_bin" "${caps[@]}" >seccomp.json
    jq --slurpfile s seccomp.json '.linux.seccomp = $s[0]' config.default.json >config.seccomp.json
fi

rts=()
# BENCH_EXTRA: more runtime binaries to time alongside (e.g. an older build
# copied to a distinct name), space-separated.
for rt in "$caixa" ${BENCH_EXTRA:-} crun runc; do
    command -v "$rt" >/dev/null && rts+=("$rt") || echo "bench: $rt not found, skipped"
done
bench() { # config-name: every runtime on config.NAME.json, interleaved
    # The host is shared: runs are split into $rounds rounds, each runtime in
    # turn, so load changes hit all of them alike. Median over all runs;
    # CPU is hyperfine's user+system mean (children included).
    local cfg=$1 rt name r n=$(( (runs + rounds - 1) / rounds ))
    cp "config.$cfg.json" config.json
    for ((r = 0; r < rounds; r++)); do
        for rt in "${rts[@]}"; do
            name=$(basename "$rt")
            hyperfine -N --warmup 2 --runs "$n" --export-json "$work/$cfg-$name-$r.json" \
                "$rt --root $work/state-$name run bench-$cfg" >/dev/null 2>&1 ||
                { echo "bench: $rt failed on the $cfg config (rerun by hand to see)" >&2; return 1; }
        done
    done
    echo "lifecycle of \`true\` ($cfg config; run = create+start+wait+delete), $rounds x $n runs:"
    local crun_med=0 med cpu
    for rt in crun "${rts[@]}"; do
        name=$(basename "$rt")
        [ -e "$work/$cfg-$name-0.json" ] || continue
        med=$(jq -s '[.[].results[0].times[]] | sort | .[length / 2 | floor] * 1000' "$work/$cfg-$name"-*.json)
        cpu=$(jq -s '[.[].results[0] | .user + .system] | add / length * 1000' "$work/$cfg-$name"-*.json)
        if [ "$rt" = crun ] && [ "$crun_med" = 0 ]; then crun_med=$med; continue; fi
        printf '  %-16s median %7.2f ms   %5s x crun   cpu %6.2f ms\n' "$name" "$med" \
            "$(awk -v a="$med" -v b="$crun_med" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')" "$cpu"
    done
}
bench default
[ "$seccomp" = 0 ] || bench seccomp
