#!/usr/bin/env bash
# From a fresh Debian 12 host with this repository to a command running in
# a banger VM, in one go (README "Quick start"). Idempotent: a second run
# reuses everything it made and only boots a new VM.
#
# 1. host dependencies (scripts/install-deps.sh: Debian packages and
#    vhost-device-vsock),
# 2. ./build/bin/{banger,bangerd,banger-vsock-agent} (make build),
# 3. kernel `debian-cloud`: Debian's cloud kernel package (apt-get download,
#    cached in $BANGER_TEST_CACHE, default /var/tmp/banger-test-cache) imported
#    into banger's kernel store,
# 4. image `debian-bookworm`: banger's golden Debian image (debootstrap from
#    this host's Debian mirror, cached there too) registered and promoted
#    into banger's image store,
# 5. image `devbox`: a dev box built from it (`banger image build`: Node.js,
#    npm, opencode, claude, pi, mise and the opencode service; the tools are
#    downloaded from the npm registry into banger's build cache once),
# 6. default_image_name = "devbox" in banger's config when none is set,
# 7. `banger vm run -- uname -a` (or the command given as arguments).
# Needs root (debootstrap, and the bridge/TAP/NAT set-up).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s\n' "$*" >&2; }

step "host dependencies"
./scripts/install-deps.sh >&2
export PATH="$HOME/.cargo/bin:$PATH"
step "build"
make build >&2
banger=./build/bin/banger

step "kernel debian-cloud"
if $banger kernel show debian-cloud >/dev/null 2>&1; then
  echo "present" >&2
else
  deb=$(./scripts/fetch-test-kernel.sh)
  $banger kernel import debian-cloud --deb "$deb" >&2
fi

step "image debian-bookworm"
if $banger image show debian-bookworm >/dev/null 2>&1; then
  echo "present" >&2
else
  echo "building the Debian bookworm rootfs (debootstrap; a few minutes the first time)" >&2
  rootfs=$(./scripts/build-golden-image.sh)
  $banger image register --name debian-bookworm --rootfs "$rootfs" --kernel-ref debian-cloud >&2
  $banger image promote debian-bookworm >&2
fi

step "image devbox"
if $banger image show devbox >/dev/null 2>&1; then
  echo "present" >&2
else
  echo "building the dev box (coding agents from the npm registry; several minutes under emulation)" >&2
  $banger image build --name devbox --from-image debian-bookworm >&2
fi

step "default image"
shown=$($banger config show)
config=$(printf '%s\n' "$shown" | sed -n '1s/^# \([^ ]*\).*/\1/p')
current=$(printf '%s\n' "$shown" | sed -n 's/^default_image_name *= *"\([^"]*\)".*/\1/p')
if [ -z "$current" ]; then
  mkdir -p "$(dirname "$config")"
  printf 'default_image_name = "devbox"\n' >> "$config"
  echo "set default_image_name = \"devbox\" in $config" >&2
  # The daemon reads its config at start.
  $banger daemon stop >/dev/null 2>&1 || true
else
  echo "default_image_name = \"$current\"" >&2
fi

step "banger vm run -- ${*:-uname -a}"
if [ $# -eq 0 ]; then set -- uname -a; fi
exec $banger vm run -- "$@"
