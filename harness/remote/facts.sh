#!/bin/sh
# facts.sh [FILE...]: what meta.json records about a host, one KEY=VALUE a line.
# The same script runs on every host of a run -- this machine, inside a network
# namespace, or over ssh -- so every host is described the same way.  FILEs (the
# binaries a run will use there) get their SHA-256, which proves that every host
# ran the same build.
read_file() { [ -r "$1" ] && head -n 1 "$1"; }
selected() { read_file "$1" | sed -n 's/.*\[\(.*\)\].*/\1/p'; }
pkg() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null; }

echo "hostname=$(uname -n)"
echo "kernel_release=$(uname -r)"
echo "kernel_version=$(uname -v)"
echo "arch=$(uname -m)"
echo "cores=$(getconf _NPROCESSORS_ONLN)"
echo "cpus_allowed=$(nproc)"
echo "cpus_online=$(read_file /sys/devices/system/cpu/online)"
echo "cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "governor=$(read_file /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor)"
echo "page_size=$(getconf PAGESIZE)"
echo "clk_tck=$(getconf CLK_TCK)"
echo "mem_total_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
echo "os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
echo "thp=$(selected /sys/kernel/mm/transparent_hugepage/enabled)"
echo "nofile_soft=$(ulimit -Sn)"
echo "nofile_hard=$(ulimit -Hn)"
echo "somaxconn=$(read_file /proc/sys/net/core/somaxconn)"
echo "tcp_max_syn_backlog=$(read_file /proc/sys/net/ipv4/tcp_max_syn_backlog)"
echo "ip_local_port_range=$(read_file /proc/sys/net/ipv4/ip_local_port_range | tr '\t' ' ')"
echo "loadavg=$(cut -d ' ' -f 1-3 /proc/loadavg)"
echo "clock_unix=$(date +%s.%N)"
for p in libc6 libuv1 libev4 libpq5 liburing2 nodejs postgresql; do
	echo "pkg_$p=$(pkg $p)"
done
echo "node=$(node --version 2>/dev/null)"
echo "python3=$(python3 --version 2>/dev/null | cut -d ' ' -f 2)"
for f in "$@"; do
	echo "sha256 $(sha256sum "$f" 2>/dev/null | cut -d ' ' -f 1) $f"
done
