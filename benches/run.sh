#!/usr/bin/env bash
# caixa's engine benchmark, in one run (needs root):
#  1. `caixa run --rm --network none busybox true` with caixa-runtime, crun and
#     runc as the OCI runtime (hyperfine, mean and median), and `docker run
#     --rm --network none busybox true` when a dockerd is running;
#  2. the private memory of a container's monitor (Private_Dirty from
#     /proc/PID/smaps_rollup, averaged over 10 monitors);
#  3. 100 containers started in parallel (`run -d`), in containers/second.
# Usage: benches/run.sh [RUNS]   (release binaries are built when missing)
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

echo "== caixa run --rm --network none busybox true ($runs runs each; load: $(cut -d' ' -f1-3 /proc/loadavg))"
for rt in "$bin/caixa-runtime" crun runc; do
    command -v "$rt" >/dev/null || continue
    export CAIXA_RUNTIME=$rt
    "$caixa" run --rm --network none busybox true   # warm-up (imports the default image once)
    hyperfine -N -w 3 -r "$runs" --export-json "$work/h.json" \
        "$caixa run --rm --network none busybox true" >/dev/null 2>&1
    python3 - "$work/h.json" "$(basename "$rt")" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(f"  runtime {sys.argv[2]:<14} mean {r['mean']*1000:7.1f} ms   median {r['median']*1000:7.1f} ms   min {r['min']*1000:7.1f} ms")
EOF
done
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    if docker image inspect busybox >/dev/null 2>&1 || "$caixa" save busybox 2>/dev/null | docker load >/dev/null 2>&1; then
        hyperfine -N -w 3 -r "$runs" --export-json "$work/h.json" "docker run --rm --network none busybox true" >/dev/null 2>&1
        python3 -c "import json;r=json.load(open('$work/h.json'))['results'][0];print(f\"  docker                 mean {r['mean']*1000:7.1f} ms   median {r['median']*1000:7.1f} ms\")"
    fi
else
    echo "  docker: no dockerd running, skipped"
fi

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
