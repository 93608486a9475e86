#!/usr/bin/env bash
# Installs what banger needs on a Debian 12 host, and what its tests need.
# Idempotent: installed pieces are skipped, so a second run is quick.
# Needs root (or sudo) for apt-get; cargo installs go to ~/.cargo/bin.
set -euo pipefail

# Runtime: ext4 tools, networking, ssh, git, depmod (kmod) for kernel
# imports; QEMU for hosts without a usable KVM. Build and test: a C compiler
# (bundled SQLite, zstd, xz), make, file, cpio (checks generated initrds),
# busybox-static (a tiny root filesystem for boot tests), debootstrap (the
# golden image, images/golden/); a real OCI registry and the tools that
# build and push test images for `image pull` (docker-registry, umoci,
# skopeo, htpasswd from apache2-utils); chromium and its WebDriver
# (chromium-driver) for the web UI's browser test; gpgv and Debian's archive
# keyring for `kernel pull` of Debian kernels (gnupg signs the tests' own
# archive). The manual helpers (scripts/manual/): curl, xz-utils,
# squashfs-tools (Alpine's modloop), python3; the tests' mirror is python3's
# http.server.
PACKAGES=(
  e2fsprogs iproute2 nftables openssh-client git kmod
  qemu-system-x86
  ca-certificates build-essential pkg-config file make cpio busybox-static
  debootstrap
  docker-registry umoci skopeo apache2-utils
  chromium chromium-driver
  gpgv gnupg debian-archive-keyring
  curl xz-utils squashfs-tools python3
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-deps: Debian packages present"
fi

if ! command -v cargo >/dev/null; then
  echo "install-deps: cargo not found; install Rust (https://rustup.rs) and run again" >&2
  exit 1
fi

# vhost-device-vsock gives QEMU guests the same hybrid vsock socket that
# Firecracker has, so banger speaks to its guest agent the same way on both.
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v vhost-device-vsock >/dev/null; then
  echo "install-deps: cargo install vhost-device-vsock (a few minutes)"
  cargo install --locked vhost-device-vsock
else
  echo "install-deps: vhost-device-vsock present"
fi
