#!/bin/bash
# Per-RUN cost of the three ways to give a RUN a private network with NAT egress:
# pasta (passt), slirp4netns, and veth + bridge + masquerade as root. For each: the time from
# "the empty network namespace exists" to "the RUN may start" (helper ready or links
# configured), the helper's resident memory, and whether a GET from the Debian mirror works.
# Usage: sudo bench/network.sh [ITERATIONS]   (needs passt, slirp4netns, iproute2, iptables, busybox)
set -u
N=${1:-20}
URL=http://deb.debian.org/debian/dists/bookworm/Release
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000 )); }   # microseconds between two now()s

# A process in a fresh network namespace; prints its pid.
new_netns() { unshare -n sleep 60 </dev/null >/dev/null 2>&1 & echo $!; }

get_ok() { # pid, resolver
  echo "nameserver $2" > "$T/resolv.$1"
  nsenter -t "$1" -n unshare -m sh -c \
    "mount --bind $T/resolv.$1 /etc/resolv.conf && busybox wget -q -O /dev/null $URL" \
    && echo ok || echo FAILED
}

bench_pasta() {
  local total=0 p pid rss=0 got
  for i in $(seq "$N"); do
    p=$(new_netns); sleep 0.05
    exec 7</proc/$p/ns/net
    local s=$(now)
    # pasta drops every capability but NET_ADMIN/SYS_ADMIN before opening the namespace, so
    # /proc/<pid>/ns/net is refused to it; its own /proc/self/fd/7 is not.
    pasta --config-net --netns /proc/self/fd/7 --runas 0:0 -t none -u none -T none -U none \
      --no-map-gw --dns-forward 169.254.1.1 -q -P "$T/pasta.pid" </dev/null >/dev/null 2>&1
    local e=$(now); exec 7<&-
    total=$(( total + $(ms "$s" "$e") ))
    pid=$(cat "$T/pasta.pid")
    rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
    [ "$i" = 1 ] && got=$(get_ok "$p" 169.254.1.1)
    kill "$p" "$pid"; wait "$p" 2>/dev/null
  done
  echo "pasta:        $(( total / N )) us/run  helper RSS ${rss} kB  GET $got"
}

bench_slirp() {
  local total=0 p sp rss=0 got
  for i in $(seq "$N"); do
    p=$(new_netns); sleep 0.05
    rm -f "$T/ready"; mkfifo "$T/ready"; exec 8<>"$T/ready"
    local s=$(now)
    slirp4netns --configure --mtu=65520 --disable-host-loopback --enable-sandbox \
      --enable-seccomp --ready-fd=8 "$p" eth0 </dev/null >/dev/null 2>&1 &
    sp=$!
    read -r -n1 -u 8 _
    local e=$(now); exec 8<&-
    total=$(( total + $(ms "$s" "$e") ))
    rss=$(awk '/VmRSS/ {print $2}' /proc/$sp/status)
    [ "$i" = 1 ] && got=$(get_ok "$p" 10.0.2.3)
    kill "$p" "$sp"; wait "$p" "$sp" 2>/dev/null
  done
  echo "slirp4netns:  $(( total / N )) us/run  helper RSS ${rss} kB  GET $got"
}

bench_veth() {
  local total=0 p got fwd
  fwd=$(cat /proc/sys/net/ipv4/ip_forward)
  # One-time host state (not counted): a bridge, NAT for its subnet, forwarding.
  ip link add rbbench0 type bridge && ip addr add 10.89.0.1/24 dev rbbench0 && ip link set rbbench0 up
  iptables -t nat -A POSTROUTING -s 10.89.0.0/24 ! -o rbbench0 -j MASQUERADE
  echo 1 > /proc/sys/net/ipv4/ip_forward
  for i in $(seq "$N"); do
    p=$(new_netns); sleep 0.05
    local s=$(now)
    ip link add rbh$i type veth peer name rbc$i
    ip link set rbh$i master rbbench0 up
    ip link set rbc$i netns "$p"
    nsenter -t "$p" -n sh -c "ip link set lo up; ip link set rbc$i name eth0; ip addr add 10.89.0.$((i + 1))/24 dev eth0; ip link set eth0 up; ip route add default via 10.89.0.1"
    local e=$(now)
    total=$(( total + $(ms "$s" "$e") ))
    [ "$i" = 1 ] && got=$(get_ok "$p" "$(awk '/^nameserver/ {print $2; exit}' /etc/resolv.conf)")
    kill "$p"; wait "$p" 2>/dev/null
    ip link del rbh$i 2>/dev/null
  done
  iptables -t nat -D POSTROUTING -s 10.89.0.0/24 ! -o rbbench0 -j MASQUERADE
  ip link del rbbench0
  echo "$fwd" > /proc/sys/net/ipv4/ip_forward
  echo "veth+bridge:  $(( total / N )) us/run  (ip(8) commands; no helper)  GET $got"
}

command -v pasta >/dev/null && bench_pasta || echo "pasta: not installed (apt-get install passt)"
command -v slirp4netns >/dev/null && bench_slirp || echo "slirp4netns: not installed"
bench_veth
