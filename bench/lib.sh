#!/usr/bin/env bash
# Shared by bench/run.sh and bench/fleet.sh (sourced): packages, a private docker-registry and
# dockerd, and the debootstrap'd Debian base. Callers set W (work dir), CACHE, SUITE and
# DOCKER, and keep REG_PIDS/DOCKERD_PID for their cleanup.

log() { printf '\n== %s %s\n' "$(date +%H:%M:%S)" "$*"; }

# ---------------------------------------------------------------- install
install_packages() {
    # crun is deliberately absent: it refuses this kind of host's hybrid cgroups and buildah
    # prefers it once installed. buildah is pointed at runc explicitly below anyway.
    local pkgs=(docker.io buildah hyperfine time docker-registry busybox-static skopeo runc
        debootstrap python3 iptables xz-utils ca-certificates)
    local missing=() p
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    if dpkg-query -W -f='${Status}' crun 2>/dev/null | grep -q "install ok installed"; then
        echo "warning: crun is installed; buildah is forced to runc with --runtime" >&2
    fi
    command -v cargo >/dev/null || { echo "needs a Rust toolchain (cargo) to build rbuild" >&2; exit 1; }
}

# ---------------------------------------------------------------- background services
REG_PIDS=()
DOCKERD_PID=
cleanup() {
    set +e
    if [ -n "$DOCKERD_PID" ]; then
        kill "$DOCKERD_PID" 2>/dev/null
        for _ in $(seq 1 30); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 1; done
    fi
    for p in "${REG_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    if [ -n "${BUILDAH:-}" ]; then $BUILDAH rm --all >/dev/null 2>&1; fi
    # Storage drivers leave mounts (overlay homes, shm) under the work dir; unmount deepest first.
    awk -v w="$W" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n1 umount -l
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "work directory kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_registry() { # NAME → sets REG_<NAME>=127.0.0.1:PORT, storage under $W/registry-NAME
    local name=$1 port dir
    port=$(free_port)
    dir=$W/registry-$name
    mkdir -p "$dir/storage"
    # No blob descriptor cache: the push measurement empties the storage between runs.
    cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
    docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    REG_PIDS+=($!)
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null || { cat "$dir/log"; exit 1; }
    printf -v "REG_$name" '127.0.0.1:%s' "$port"
}

start_dockerd() { # REGISTRY... → a private dockerd trusting these plain-HTTP registries
    local d=$W/docker r insecure=()
    for r in "$@"; do insecure+=(--insecure-registry "$r"); done
    mkdir -p "$d"
    export DOCKER_HOST=unix://$d/docker.sock DOCKER_BUILDKIT=1
    dockerd --data-root "$d/data" --exec-root "$d/exec" -H "$DOCKER_HOST" --pidfile "$d/docker.pid" \
        "${insecure[@]}" >"$W/logs/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 1 60); do
        $DOCKER info >/dev/null 2>&1 && return 0
        kill -0 "$DOCKERD_PID" 2>/dev/null || break
        sleep 1
    done
    tail -20 "$W/logs/dockerd.log" >&2
    echo "dockerd did not come up" >&2
    exit 1
}

stop_dockerd() { # the dockerd start_dockerd started, and its state (an ephemeral runner's end)
    [ -n "$DOCKERD_PID" ] || return 0
    kill "$DOCKERD_PID" 2>/dev/null
    for _ in $(seq 1 30); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 1; done
    DOCKERD_PID=
    awk -v d="$W/docker" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n1 umount -l
    rm -rf "$W/docker"
}

# ---------------------------------------------------------------- bases
# A debootstrap'd Debian rootfs, from the mirror apt itself uses (the only one reachable here).
debian_tarball() {
    local tar=$CACHE/debian-$SUITE-minbase.tar mirror rootfs
    if [ ! -s "$tar" ]; then
        mirror=$(apt_mirror)
        [ -n "$mirror" ] || { echo "no Debian mirror in apt's sources" >&2; return 1; }
        rootfs=$CACHE/debian-rootfs.tmp
        rm -rf "$rootfs"
        # stderr: this function's stdout is the tarball path its caller captures.
        log "debootstrap --variant=minbase $SUITE from $mirror" >&2
        debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >"$W/logs/debootstrap.log" 2>&1 ||
            { tail -20 "$W/logs/debootstrap.log" >&2; return 1; }
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar --numeric-owner -C "$rootfs" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
        rm -rf "$rootfs"
    fi
    echo "$tar"
}

apt_mirror() {
    # deb822 sources first (URIs: line of the entry whose suite is the release), then one-line.
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -e "$f" ] || continue
        awk -v s="$SUITE" '/^URIs:/ { u = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) { print u; exit } }' "$f"
    done | head -1 | grep . && return 0
    awk -v s="$SUITE" '$1 == "deb" && $0 ~ (" " s " ") { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -1
}
