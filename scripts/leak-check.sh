#!/usr/bin/env bash
# Fails when caixa left a mount, cgroup, network link, nft table, process or
# temp dir on this machine.
set -uo pipefail
left=0
report() { echo "leak: $*" >&2; left=1; }
m=$(grep -i caixa /proc/self/mountinfo) && report "mounts:"$'\n'"$m"
c=$(find /sys/fs/cgroup -maxdepth 5 -type d -iname '*caixa*' 2>/dev/null) && [ -n "$c" ] && report "cgroups:"$'\n'"$c"
l=$(ip -o link 2>/dev/null | grep -i caixa) && report "links:"$'\n'"$l"
t=$(nft list tables 2>/dev/null | grep -i caixa) && report "nft tables: $t"
# Zombies are left out: an exited, double-forked monitor waits there until
# PID 1 (not caixa) gets round to reaping it; it holds nothing.
p=$(ps -eo stat=,pid=,args= | awk '$1 !~ /^Z/' | grep -E 'caixa-(runtime|monitor)|caixa-test' \
    | grep -v -e leak-check -e 'grep -E') && report "processes:"$'\n'"$p"
d=$(find /tmp /run -maxdepth 1 -iname '*caixa-test*' 2>/dev/null) && [ -n "$d" ] && report "temp dirs:"$'\n'"$d"
if [ "$left" -ne 0 ]; then echo "leak check: FAILED" >&2; exit 1; fi
echo "leak check: nothing left behind"
