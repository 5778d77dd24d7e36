#!/usr/bin/env bash
# caixa's engine benchmark, in one run (needs root):
#  1. `caixa run --rm --network none busybox true` with caixa-runtime, crun and
#     runc as the OCI runtime (hyperfine, median over interleaved rounds),
#     BENCH_BEFORE=DIR's build of caixa, and `docker run --rm --network none
#     busybox true` when a dockerd is running;
#  2. the private memory of a container's monitor (Private_Dirty from
#     /proc/PID/smaps_rollup, averaged over 10 monitors);
#  3. 100 containers started in parallel (`run -d`), in containers/second.
# Usage: [BENCH_BEFORE=DIR] [BENCH_RUNTIME=PATH] [BENCH_ROUNDS=N] benches/run.sh [RUNS]
# (BENCH_RUNTIME: the OCI runtime of both the caixa and the before variants,
# so that two engine builds are compared with the same runtime)
# (release binaries are built when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
bin=$PWD/target/release
for b in caixa caixa-monitor caixa-runtime; do
    [ -x "$bin/$b" ] || cargo build --release -p caixa-cli -p caixa-monitor -p caixa-runtime >/dev/null
done
work=$(mktemp -d /tmp/caixa-bench-run.XXXXXX)
export CAIXA_ROOT=$work/root CAIXA_RUN_ROOT=$work/r
caixa=$bin/caixa
cleanup() {
    "$caixa" ps -aq --no-trunc 2>/dev/null | xargs -r -P 8 -n 8 "$caixa" rm -f >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# Variants, interleaved in $rounds rounds (the host is shared: load swings hit
# all alike); median over all runs. BENCH_BEFORE=DIR adds DIR's caixa (with
# the caixa-monitor and caixa-runtime beside it) to compare two builds.
rounds=${BENCH_ROUNDS:-10}
n=$(( (runs + rounds - 1) / rounds ))
variants=("caixa|$caixa|${BENCH_RUNTIME:-$bin/caixa-runtime}")
if [ -n "${BENCH_BEFORE:-}" ]; then
    variants+=("before|$BENCH_BEFORE/caixa|${BENCH_RUNTIME:-$BENCH_BEFORE/caixa-runtime}")
fi
for rt in crun runc; do
    if command -v "$rt" >/dev/null; then variants+=("caixa+$rt|$caixa|$(command -v "$rt")"); fi
done
docker=0
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    if docker image inspect busybox >/dev/null 2>&1 || "$caixa" save busybox 2>/dev/null | docker load >/dev/null 2>&1; then
        docker=1
    fi
fi
echo "== run --rm --network none busybox true ($rounds rounds x $n runs each; load: $(cut -d' ' -f1-3 /proc/loadavg))"
# Each variant has its own root under $work/N (short: attach socket paths
# must stay under 108 bytes).
for i in "${!variants[@]}"; do
    IFS='|' read -r name exe rt <<<"${variants[$i]}"
    mkdir -p "$work/$i"
    CAIXA_ROOT=$work/$i/root CAIXA_RUN_ROOT=$work/$i/r CAIXA_RUNTIME=$rt \
        "$exe" run --rm --network none busybox true # warm-up (imports the default image once)
done
for ((r = 0; r < rounds; r++)); do
    for i in "${!variants[@]}"; do
        IFS='|' read -r name exe rt <<<"${variants[$i]}"
        CAIXA_ROOT=$work/$i/root CAIXA_RUN_ROOT=$work/$i/r CAIXA_RUNTIME=$rt \
            hyperfine -N -w 1 -r "$n" --export-json "$work/$i/h-$r.json" \
            "$exe run --rm --network none busybox true" >/dev/null 2>&1
    done
    if [ "$docker" = 1 ]; then
        mkdir -p "$work/d"
        hyperfine -N -w 1 -r "$n" --export-json "$work/d/h-$r.json" \
            "docker run --rm --network none busybox true" >/dev/null 2>&1
    fi
done
results=()
for i in "${!variants[@]}"; do results+=("${variants[$i]%%|*}|$work/$i"); done
if [ "$docker" = 1 ]; then results+=("docker|$work/d"); else echo "  docker: no dockerd running, skipped"; fi
for res in "${results[@]}"; do
    python3 - "${res%%|*}" "${res#*|}"/h-*.json <<'EOF'
import json, statistics, sys
t = sorted(x for f in sys.argv[2:] for x in json.load(open(f))["results"][0]["times"])
print(f"  {sys.argv[1]:<14} median {statistics.median(t)*1000:7.1f} ms   mean {statistics.mean(t)*1000:7.1f} ms   min {t[0]*1000:7.1f} ms   ({len(t)} runs)")
EOF
done

export CAIXA_RUNTIME=$bin/caixa-runtime
echo "== monitor memory (10 containers running sleep)"
ids=()
for i in $(seq 10); do ids+=("$("$caixa" run -d --network none busybox sleep 120)"); done
tot=0; rss=0
for id in "${ids[@]}"; do
    mp=$(sed -n 's/^monitor_pid=//p' "$CAIXA_ROOT/containers/$id/state")
    pd=$(awk '/^Private_Dirty:/ {print $2}' "/proc/$mp/smaps_rollup")
    r=$(awk '/^Rss:/ {print $2}' "/proc/$mp/smaps_rollup")
    tot=$((tot + pd)); rss=$((rss + r))
done
echo "  per monitor: Private_Dirty $((tot / 10)) kB, Rss $((rss / 10)) kB (target: <= 1024 kB private)"
"$caixa" rm -f "${ids[@]}" >/dev/null

echo "== 100 containers started in parallel (run -d, sleep)"
start=$(date +%s.%N)
seq 100 | xargs -P 100 -I{} "$caixa" run -d --network none busybox sleep 60 >/dev/null
end=$(date +%s.%N)
n=$("$caixa" ps -q | wc -l)
python3 -c "d=$end-$start; print(f'  {$n} running after {d:.2f} s: {$n/d:.1f} containers/s')"
start=$(date +%s.%N)
"$caixa" ps -aq --no-trunc | xargs -r -P 16 -n 4 "$caixa" rm -f >/dev/null
end=$(date +%s.%N)
python3 -c "d=$end-$start; print(f'  removed (rm -f, 16 in parallel) in {d:.2f} s')"
