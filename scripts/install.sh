#!/usr/bin/env bash
# Installs caixa on a fresh Debian 12 machine (as root) and runs a first container.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
cargo build --release --locked
for b in caixa-runtime caixa caixa-monitor; do
    [ -x "target/release/$b" ] && install -m 0755 "target/release/$b" /usr/local/bin/
done
# Containers with a restart policy come back at boot (`caixa system boot`).
install -D -m 0644 scripts/systemd/caixa-boot.service /etc/systemd/system/caixa-boot.service
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable caixa-boot.service
else
    echo "systemd is not running: enable caixa-boot.service once it is (or run 'caixa system boot' at boot)"
fi
exec scripts/first-container.sh
