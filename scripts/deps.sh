#!/usr/bin/env bash
# Installs what caixa needs to build, run and test on Debian 12 (as root).
# Idempotent: only calls apt when a package is missing.
set -euo pipefail
pkgs=(busybox-static libseccomp-dev pkg-config gcc make uidmap nftables iproute2
      crun runc skopeo umoci debootstrap docker-registry apache2-utils hyperfine docker.io)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # No package may start its service (docker.io would start a dockerd with
    # its own bridge and firewall rules): tests start private instances.
    policy=/usr/sbin/policy-rc.d
    had_policy=0; [ -e "$policy" ] && had_policy=1
    [ "$had_policy" = 1 ] || { printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; }
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    [ "$had_policy" = 1 ] || rm -f "$policy"
fi
# The registry package starts a system service; tests run their own instances.
if systemctl is-active --quiet docker-registry 2>/dev/null; then systemctl stop docker-registry || true; fi
pkill -x docker-registry 2>/dev/null || true
if ! command -v cargo >/dev/null 2>&1; then
    for d in "$HOME/.cargo/bin" /root/.cargo/bin /usr/local/cargo/bin; do
        [ -x "$d/cargo" ] && export PATH="$d:$PATH" && break
    done
fi
command -v cargo >/dev/null || { echo "deps: cargo (a Rust toolchain >= 1.90) is required" >&2; exit 1; }
