#!/usr/bin/env bash
# Builds banger's golden image, a Debian bookworm root filesystem with
# systemd, udev and sshd, from Debian packages only (images/golden/), and
# prints the path of its rootfs.ext4. With an argument, another recipe of
# images/: `openrc` (sysvinit running OpenRC) or `runit` (runit as init),
# the same system otherwise. The result is cached under
# $BANGER_TEST_CACHE/<recipe>/<recipe hash>/ (default /var/tmp/banger-test-cache)
# and rebuilt when the recipe changes. Needs root (debootstrap).
#
# The Debian mirror is this host's own apt source, or BANGER_DEBIAN_MIRROR.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
name=${1:-golden}
case "$name" in golden|openrc|runit) ;; *) echo "build-golden-image: no recipe images/$name" >&2; exit 2 ;; esac
recipe=$here/images/$name
cache=${BANGER_TEST_CACHE:-/var/tmp/banger-test-cache}/$name
# A recipe's apt-install: packages apt installs in the tree after
# debootstrap, for choices debootstrap's resolver cannot make (sysvinit-core
# with OpenRC rather than sysv-rc).
inputs=("$recipe/packages" "$recipe/setup.sh" "$here/images/golden/setup.sh" "$0")
[ -f "$recipe/apt-install" ] && inputs+=("$recipe/apt-install")
hash=$(cat "${inputs[@]}" | sha256sum | cut -c1-16)
out=$cache/$hash
if [ -f "$out/rootfs.ext4" ]; then
  echo "$out/rootfs.ext4"
  exit 0
fi

mirror=${BANGER_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  # deb822 (URIs:) or one-line (deb URL suite) sources; the main archive, not security.
  mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs: *//p' | tr ' ' '\n' | grep -v -- '-security' | grep '/debian/\?$' | head -n1 || true)
  [ -n "$mirror" ] || mirror=$(sed -n 's/^deb \(http[^ ]*\) bookworm .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n1 || true)
fi
[ -n "$mirror" ] || { echo "build-golden-image: no Debian mirror found; set BANGER_DEBIAN_MIRROR" >&2; exit 1; }

mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "build-golden-image: debootstrap bookworm for $name (a few minutes)" >&2
debootstrap --variant=minbase --include="$(paste -sd, "$recipe/packages")" bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
if [ -f "$recipe/apt-install" ]; then
  chroot "$work/root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    $(cat "$recipe/apt-install") >"$work/apt.log" 2>&1 || { tail -20 "$work/apt.log" >&2; exit 1; }
  chroot "$work/root" apt-get clean
fi
"$recipe/setup.sh" "$work/root"
mkfs.ext4 -q -F -L root -d "$work/root" "$work/rootfs.ext4" 2G >&2
e2fsck -fn "$work/rootfs.ext4" >/dev/null
mkdir -p "$work/out"
mv "$work/rootfs.ext4" "$work/out/"
# Publish in one rename, so a half-built image is never used.
mv "$work/out" "$out"
echo "$out/rootfs.ext4"
