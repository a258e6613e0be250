#!/usr/bin/env bash
# Runs the ported BuildKit suite (testdata/buildkit-suite) against a current BuildKit, so that
# every expectation is checked on the reference and is never a guess (issue 19).
#
# Usage (as root): scripts/buildkit-reference.sh [ARGS FOR buildkit-suite.py run...]
#   e.g. scripts/buildkit-reference.sh --filter copy
#        scripts/buildkit-reference.sh testdata/buildkit-suite/cmd/testIgnoreEntrypoint
#
# What it does: installs the Debian packages it needs; builds buildkitd and buildctl with
# ../shared/peers/build-buildkit.sh when $BUILDKIT_BIN lacks them; starts Debian's
# docker-registry on 127.0.0.1:<free port> with a temporary storage; pushes the busybox base
# the rbuild suite builds on (the testkit's busybox root filesystem, imported and pushed by
# rbuild: the same image config) as library/busybox:latest; starts buildkitd (runc worker, a
# temporary --root, docker.io mirrored to that registry so `FROM busybox` resolves offline);
# runs `scripts/buildkit-suite.py run --builder buildctl`; stops and removes everything on exit.
#
# Environment:
#   BUILDKIT_BIN   directory of buildkitd and buildctl (default /opt/buildkit/bin)
#   BUILDKIT_GIT   git directory of a moby/buildkit snapshot, to build them when missing
#                  (default: ../.mirror/moby+buildkit/repo beside the repository, when there)
#   BUILD_BUILDKIT the build script (default ../shared/peers/build-buildkit.sh of the repository)
#   RBUILD         an rbuild binary (default: cargo builds one into $CARGO_TARGET_DIR or target/)
#   KEEP=1         keep the temporary directory (logs of buildkitd and the registry) on exit
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILDKIT_BIN=${BUILDKIT_BIN:-/opt/buildkit/bin}
BUILD_BUILDKIT=${BUILD_BUILDKIT:-$REPO/../shared/peers/build-buildkit.sh}
if [ -z "${BUILDKIT_GIT:-}" ] && [ -d "$REPO/../.mirror/moby+buildkit/repo" ]; then
    BUILDKIT_GIT=$REPO/../.mirror/moby+buildkit/repo
fi

die() { echo "buildkit-reference: $*" >&2; exit 1; }
log() { echo "buildkit-reference: $*" >&2; }

[ "$(id -u)" = 0 ] || die "needs root (buildkitd runs containers with runc)"

install_packages() {
    local p missing=()
    for p in runc docker-registry skopeo python3 curl busybox-static; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

ensure_buildkit() {
    if [ -x "$BUILDKIT_BIN/buildkitd" ] && [ -x "$BUILDKIT_BIN/buildctl" ]; then
        return 0
    fi
    [ -n "${BUILDKIT_GIT:-}" ] ||
        die "no buildkitd/buildctl in $BUILDKIT_BIN; set BUILDKIT_GIT to a moby/buildkit git directory to build them"
    [ -f "$BUILD_BUILDKIT" ] || die "no BuildKit build script at $BUILD_BUILDKIT (set BUILD_BUILDKIT)"
    log "building BuildKit into $BUILDKIT_BIN"
    bash "$BUILD_BUILDKIT" "$BUILDKIT_GIT" "$BUILDKIT_BIN"
}

ensure_rbuild() { # sets RBUILD and TARBALL_BIN
    local tgt=${CARGO_TARGET_DIR:-$REPO/target}
    if [ -z "${RBUILD:-}" ] || [ ! -x "$tgt/debug/examples/busybox-tarball" ]; then
        log "building rbuild and the busybox-tarball example"
        (cd "$REPO" && cargo build -q --bin rbuild --example busybox-tarball -p rbuild -p rbuild-testkit)
    fi
    RBUILD=${RBUILD:-$tgt/debug/rbuild}
    TARBALL_BIN=$tgt/debug/examples/busybox-tarball
    [ -x "$RBUILD" ] || die "no rbuild binary at $RBUILD"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    # buildkitd leaves its overlay/bind mounts under its root when killed mid-build.
    if [ -n "${W:-}" ] && [ -d "$W" ]; then
        local m
        for m in $(awk -v w="$W/" 'index($2, w) == 1 { print $2 }' /proc/self/mounts | sort -r); do
            umount -l "$m" 2>/dev/null || true
        done
        if [ "${KEEP:-0}" = 1 ]; then log "kept $W"; else rm -rf "$W"; fi
    fi
}

start_registry() { # sets REG=127.0.0.1:PORT
    local port
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        cat >"$W/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $W/registry
http:
  addr: 127.0.0.1:$port
EOF
        docker-registry serve "$W/registry.yml" >"$W/registry.log" 2>&1 &
        local pid=$!
        for _ in $(seq 1 100); do
            if curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then
                PIDS+=("$pid")
                REG=127.0.0.1:$port
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        grep -q "address already in use" "$W/registry.log" || { cat "$W/registry.log" >&2; die "docker-registry did not start"; }
    done
    die "docker-registry lost its port 5 times in a row"
}

push_busybox() {
    "$TARBALL_BIN" "$W/busybox.tar"
    if ! { "$RBUILD" --root "$W/rbuild-root" import "$W/busybox.tar" "$REG/library/busybox:latest" &&
        "$RBUILD" --root "$W/rbuild-root" push "$REG/library/busybox:latest"; } >"$W/push.log" 2>&1; then
        cat "$W/push.log" >&2
        die "could not push the busybox base to $REG"
    fi
    rm -rf "$W/busybox.tar" "$W/rbuild-root"
    skopeo inspect --tls-verify=false "docker://$REG/library/busybox:latest" >/dev/null ||
        die "busybox base not readable from $REG"
}

start_buildkitd() { # sets ADDR
    cat >"$W/buildkitd.toml" <<EOF
[worker.oci]
  binary = "runc"
[worker.containerd]
  enabled = false
[registry."docker.io"]
  mirrors = ["$REG"]
[registry."$REG"]
  http = true
EOF
    ADDR=unix://$W/buildkitd.sock
    "$BUILDKIT_BIN/buildkitd" --root "$W/bk-root" --addr "$ADDR" --config "$W/buildkitd.toml" \
        >"$W/buildkitd.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1 120); do
        if "$BUILDKIT_BIN/buildctl" --addr "$ADDR" debug workers >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    tail -30 "$W/buildkitd.log" >&2
    die "buildkitd did not answer on $ADDR"
}

main() {
    install_packages
    ensure_buildkit
    ensure_rbuild
    # A short path: the unix socket's path must fit in 108 bytes.
    W=$(mktemp -d /tmp/bkref.XXXXXX)
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    start_registry
    log "registry at $REG"
    push_busybox
    start_buildkitd
    log "buildkitd at $ADDR ($("$BUILDKIT_BIN/buildkitd" --version))"
    python3 "$REPO/scripts/buildkit-suite.py" run --builder buildctl --buildctl "$BUILDKIT_BIN/buildctl" --addr "$ADDR" "$@"
}

main "$@"
