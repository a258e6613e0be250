#!/usr/bin/env bash
# Installs the Debian packages rbuild's demo and tests use. Idempotent; needs root.
set -euo pipefail
# busybox-static: the base image tests and the demo build on.
# skopeo, umoci, runc: independent readers and runners of the images we produce.
# docker-registry, apache2-utils: a real registry (and htpasswd) on 127.0.0.1.
# gcc, libc6-dev: static test programs (the chroot-escape check).
# iproute2, time: network checks inside RUN; peak-RSS measurements.
# qemu-user-static: RUN steps of other platforms (arm64) through binfmt_misc.
# openssh-client: ssh-agent/ssh-add for RUN --mount=type=ssh and --ssh KEYFILE.
packages=(busybox-static skopeo umoci runc docker-registry apache2-utils gcc libc6-dev iproute2 time
  qemu-user-static openssh-client)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Installing crun makes other tools pick it, and it refuses hybrid cgroup hosts.
if command -v crun >/dev/null 2>&1; then
  echo "warning: crun is installed; tests use runc explicitly" >&2
fi
