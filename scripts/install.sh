#!/usr/bin/env bash
# Installs caixa on a fresh Debian 12 machine (as root) and runs a first container.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
cargo build --release --locked
for b in caixa-runtime caixa caixa-monitor; do
    [ -x "target/release/$b" ] && install -m 0755 "target/release/$b" /usr/local/bin/
done
exec scripts/first-container.sh
