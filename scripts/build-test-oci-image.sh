#!/usr/bin/env bash
# Builds an OCI image layout from banger's golden Debian image
# (scripts/build-golden-image.sh; with an argument, another of its recipes:
# openrc, runit) for the `image pull` end-to-end tests and bench/oci-pull.py,
# and prints LAYOUT_DIR:TAG (TAG: bookworm for the golden image, else the
# recipe's name). One gzip layer, as Debian's own images have; cached beside
# the image it was made from. Needs root (a loop mount, ownership) and umoci.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
recipe=${1:-golden}
tag=$recipe
[ "$recipe" = golden ] && tag=bookworm
golden=$("$here/scripts/build-golden-image.sh" "$recipe")
out=$(dirname "$golden")/oci-layout
if [ -f "$out/index.json" ]; then
  echo "$out:$tag"
  exit 0
fi
work=$(mktemp -d "$(dirname "$golden")/oci-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "build-test-oci-image: the $recipe image as an OCI layer (a minute)" >&2
umoci init --layout "$work/layout"
umoci new --image "$work/layout:$tag"
umoci unpack --image "$work/layout:$tag" "$work/bundle" >/dev/null
rmdir "$work/bundle/rootfs"
# Copied from a read-only loop mount: debugfs rdump would lose setuid bits
# (it chowns after chmod) and extended attributes.
mkdir "$work/mnt"
mount -o loop,ro "$golden" "$work/mnt"
trap 'umount "$work/mnt" 2>/dev/null || true; rm -rf "$work"' EXIT
cp -a "$work/mnt" "$work/bundle/rootfs"
umount "$work/mnt"
test -f "$work/bundle/rootfs/etc/os-release" || { echo "build-test-oci-image: rdump made no /etc/os-release" >&2; exit 1; }
umoci repack --image "$work/layout:$tag" "$work/bundle"
umoci gc --layout "$work/layout"
mv "$work/layout" "$out"
echo "$out:$tag"
