#!/usr/bin/env bash
# `caixa load` of a multi-layer gzip image (~200 MB unpacked, built from host
# directories, one layer each) side by side with `docker load` when a docker
# daemon answers, plus gzip and zstd unpack throughput of one layer on one
# core. Usage: benches/load.sh [RUNS]. Needs root (layers keep ownership and
# device nodes). The built archives are cached in /var/cache/caixa-test/.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
caixa=${CAIXA_BIN:-$PWD/target/release/caixa}
[ -x "$caixa" ] || cargo build --release -p caixa-cli >/dev/null
cache=/var/cache/caixa-test
mkdir -p "$cache"
work=$(mktemp -d /tmp/caixa-bench-load.XXXXXX)
trap 'umount -R "$work"/root* 2>/dev/null || true; rm -rf "$work"' EXIT

# Build (once) docker-archives: multi-layer gzip, and single-layer gzip/zstd.
build() { # out compression dirs...
    local out=$1 comp=$2; shift 2
    [ -s "$out" ] && return 0
    local tmp; tmp=$(mktemp -d /tmp/caixa-bench-build.XXXXXX)
    local i=0 diffs=() layers=()
    for d in "$@"; do
        tar --sort=name --numeric-owner -C / -cf "$tmp/l$i.tar" "${d#/}"
        diffs+=("sha256:$(sha256sum "$tmp/l$i.tar" | cut -d' ' -f1)")
        case $comp in
            gzip) gzip -6 -n "$tmp/l$i.tar"; mv "$tmp/l$i.tar.gz" "$tmp/l$i.layer" ;;
            zstd) zstd -q -3 --rm "$tmp/l$i.tar" -o "$tmp/l$i.layer" ;;
        esac
        layers+=("l$i.layer"); i=$((i + 1))
    done
    python3 - "$tmp" "${#diffs[@]}" "${diffs[@]}" <<'PY'
import hashlib, json, sys
tmp, n = sys.argv[1], int(sys.argv[2]); diffs = sys.argv[3:3 + n]
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                  "rootfs": {"type": "layers", "diff_ids": diffs}}).encode()
h = hashlib.sha256(cfg).hexdigest()
open(f"{tmp}/{h}.json", "wb").write(cfg)
json.dump([{"Config": f"{h}.json", "RepoTags": ["caixa-bench/load:latest"],
            "Layers": [f"l{i}.layer" for i in range(n)]}], open(f"{tmp}/manifest.json", "w"))
PY
    tar -C "$tmp" -cf "$out" .
    rm -rf "$tmp"
}
multi=$cache/load-multi-gzip.tar
build "$multi" gzip /usr/lib/python3.11 /usr/lib/gcc /usr/share/doc /usr/share/perl /usr/share/i18n /etc /usr/share/zoneinfo
build "$cache/load-one-gzip.tar" gzip /usr/lib/gcc
build "$cache/load-one-zstd.tar" zstd /usr/lib/gcc
unpacked=$(tar -xOf "$multi" --wildcards '*.layer' | gzip -dc | wc -c)
one=$(tar -xOf "$cache/load-one-gzip.tar" --wildcards '*.layer' | gzip -dc | wc -c)
echo "image: $(du -h "$multi" | cut -f1) archive, $((unpacked / 1000000)) MB of layer tars, 7 layers"

median() { sed -n 's/.*"median": *\([0-9.e-]*\).*/\1/p' "$1" | head -n 1; }
# Each run gets a never-used store directory: creating ~10k inodes right after
# `rm -rf` of a same-sized tree makes ext4's inode allocator skip recently
# deleted inodes (recently_deleted/find_inode_bit dominated the profile), which
# measured the previous run's deletion instead of the load.
caixa_load() { # archive -> median seconds (fresh store each run, synced like docker and tar below)
    hyperfine -N --runs "$runs" --export-json "$work/h.json" \
        "sh -c 'r=\$(mktemp -d $work/root.XXXXXX); $caixa --root \$r load -i $1 >/dev/null; sync'" >/dev/null 2>&1 || { echo "bench: caixa load $1 failed" >&2; exit 1; }
    rm -rf "$work"/root.*
    median "$work/h.json"
}
c=$(caixa_load "$multi")
echo "caixa load (multi-layer gzip): ${c}s"
if docker info >/dev/null 2>&1; then
    hyperfine --runs "$runs" --export-json "$work/d.json" \
        --prepare "sh -c 'docker rmi -f caixa-bench/load:latest >/dev/null 2>&1; sync'" \
        "sh -c 'docker load -i $multi >/dev/null; sync'" >/dev/null 2>&1
    d=$(median "$work/d.json")
    echo "docker load (multi-layer gzip): ${d}s"
    awk -v c="$c" -v d="$d" 'BEGIN { printf "ratio docker/caixa: %.2fx\n", d / c }'
else
    echo "docker load: skipped (no running dockerd)"
fi
# Reference point: GNU tar -xzf of the same layers, all in parallel, synced.
ext=$work/tar-ref
tar -xf "$multi" -C "$work" --wildcards '*.layer'
hyperfine -N --runs "$runs" --export-json "$work/t.json" \
    --prepare "rm -rf $ext" \
    "sh -c 'mkdir -p $ext; for f in $work/*.layer; do mkdir $ext/\$(basename \$f); tar -xzf \$f -C $ext/\$(basename \$f) & done; wait; sync'" \
    >/dev/null 2>&1 && t=$(median "$work/t.json") &&
    echo "GNU tar -xzf, 7 layers in parallel + sync: ${t}s" &&
    awk -v c="$c" -v t="$t" 'BEGIN { printf "ratio tar/caixa: %.2fx\n", t / c }'
rm -rf "$ext" "$work"/*.layer
for comp in gzip zstd; do
    t=$(caixa_load "$cache/load-one-$comp.tar")
    awk -v b="$one" -v t="$t" -v c="$comp" 'BEGIN { printf "%s: one layer, one core: %.0f MB/s of tar (load incl. blob copy + sha256 + untar)\n", c, b / t / 1e6 }'
done
