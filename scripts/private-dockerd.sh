#!/usr/bin/env bash
# Sourced by scripts/test.sh: starts a private dockerd (docker.io) for the
# docker save/load interop tests and exports DOCKER_HOST; stops it and removes
# its files on exit. Private socket, data and exec roots; no bridge, no
# firewall rules, so it touches nothing else on the machine. Without dockerd
# the interop tests say SKIPPED.
ci_dockerd_dir=/var/tmp/ci-dockerd.$$
ci_dockerd_pid=
ci_dockerd_stop() {
    [ -n "$ci_dockerd_pid" ] || return 0
    kill "$ci_dockerd_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$ci_dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$ci_dockerd_pid" 2>/dev/null || true
    # its containerd lives in the exec root; nothing else may be left
    pkill -9 -f "$ci_dockerd_dir" 2>/dev/null || true
    grep -o " $ci_dockerd_dir[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$ci_dockerd_dir"
    ci_dockerd_pid=
}
ci_dockerd_start() {
    command -v dockerd >/dev/null 2>&1 || { echo "dockerd: not installed, docker interop tests will skip"; return 0; }
    mkdir -p "$ci_dockerd_dir"
    dockerd --data-root "$ci_dockerd_dir/data" --exec-root "$ci_dockerd_dir/exec" \
        --pidfile "$ci_dockerd_dir/dockerd.pid" -H "unix://$ci_dockerd_dir/docker.sock" \
        --bridge none --iptables=false --ip6tables=false --ip-masq=false \
        >"$ci_dockerd_dir/dockerd.log" 2>&1 &
    ci_dockerd_pid=$!
    for _ in $(seq 1 300); do
        if DOCKER_HOST="unix://$ci_dockerd_dir/docker.sock" docker info >/dev/null 2>&1; then
            export DOCKER_HOST="unix://$ci_dockerd_dir/docker.sock"
            echo "dockerd: private instance up ($DOCKER_HOST)"
            return 0
        fi
        kill -0 "$ci_dockerd_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "dockerd: did not start, docker interop tests will skip; its log:"
    tail -5 "$ci_dockerd_dir/dockerd.log" || true
    ci_dockerd_stop
}
