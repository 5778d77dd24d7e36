#!/usr/bin/env bash
# A first container: busybox through caixa-runtime, from a bundle made here.
set -euo pipefail
bundle=$(mktemp -d /tmp/caixa-first.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for a in sh echo hostname cat ls ps id; do ln -s busybox "$bundle/rootfs/bin/$a"; done
cd "$bundle"
caixa-runtime spec
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"sh", "-c", "echo hello from caixa: $(hostname), pid $$"/' config.json
caixa-runtime run "first-$$"

# The engine, daemonless: a container from the offline default busybox image.
caixa run --rm busybox echo hello
