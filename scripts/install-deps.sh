#!/usr/bin/env bash
# Installs the Debian packages rbuild's demo and tests use. Idempotent; needs root.
# crates/rbuild-testkit/tests/external_tools.rs checks that every program the tests (and the
# code they test) run is in `tools` or `base` below.
set -euo pipefail

# Programs the tests run, each with the Debian package that installs it.
tools=(
  busybox:busybox-static      # the base image tests and the demo build on
  skopeo:skopeo               # independent readers and runners of the images we produce
  umoci:umoci
  runc:runc
  docker-registry:docker-registry  # a real registry on this machine
  htpasswd:apache2-utils           # its basic-auth users
  openssl:openssl             # throwaway CAs and certificates for the TLS tests
  gcc:gcc                     # static test programs (chroot escape, setcap, probes)
  python3:python3             # hostile archives written with tarfile
  git:git                     # ADD of git repositories
  bzip2:bzip2                 # ADD of compressed archives
  xz:xz-utils
  zstd:zstd                   # zstd import tarballs
  ip:iproute2                 # network checks
  jq:jq                       # an independent reader of --progress rawjson
  time:time                   # peak-RSS measurements
  slirp4netns:slirp4netns     # the private network of a default RUN
  newuidmap:uidmap            # rootless builds map /etc/subuid ranges (tests/e2e_rootless.rs)
  newgidmap:uidmap
  useradd:passwd              # the unprivileged user of the rootless tests
  usermod:passwd
  ssh-agent:openssh-client    # RUN --mount=type=ssh forwards an agent
  ssh-add:openssh-client
  ssh-keygen:openssh-client   # keys for the --ssh tests
  sshd:openssh-server         # a local ssh git server for ADD git@... (tests/e2e_git_ssh.rs)
  debootstrap:debootstrap     # the Debian base of the RUN --mount tests (kept in /var/cache/rbuild-test)
  stress:stress               # load beside the suite when checking it is not flaky
  qemu-aarch64-static:qemu-user-static  # RUN steps of arm64 images (tests/e2e_platforms.rs)
)

# Libraries and headers no program names.
libs=(
  libc6-dev                   # static linking of the test programs
  python3-yaml                # tests/ci_recipes.rs parses the docs/ci recipes as YAML
)

# Programs of every Debian system (Essential and Priority: required packages: coreutils, tar,
# gzip, grep, sed, mawk, dpkg, apt, bash, dash, util-linux, mount, bsdutils) or of the Rust
# toolchain the tests are built with: checked here, never installed.
base=(
  sh bash cat cp mv rm ln ls mkdir mktemp touch tee id dirname head tail wc sort sha256sum
  seq sleep awk
  mkfifo mknod stty chmod chown df du cut
  tar gzip grep sed
  dpkg dpkg-query dpkg-deb apt-get apt-cache
  losetup mount umount script unshare flock setpriv
  cargo
)

packages=(${tools[@]#*:} "${libs[@]}")
missing=()
for p in $(printf '%s\n' "${packages[@]}" | sort -u); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
absent=()
for t in "${tools[@]%%:*}" "${base[@]}"; do
  command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || [ -x "/sbin/$t" ] || absent+=("$t")
done
if [ "${#absent[@]}" -gt 0 ]; then
  echo "missing programs: ${absent[*]}" >&2
  exit 1
fi
# Installing crun makes other tools pick it, and it refuses hybrid cgroup hosts.
if command -v crun >/dev/null 2>&1; then
  echo "warning: crun is installed; tests use runc explicitly" >&2
fi
