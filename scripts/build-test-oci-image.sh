#!/usr/bin/env bash
# Builds an OCI image layout from banger's golden Debian image
# (scripts/build-golden-image.sh) for the `image pull` end-to-end test and
# bench/oci-pull.py, and prints LAYOUT_DIR:TAG. One gzip layer, as Debian's
# own images have; cached beside the golden image it was made from. Needs
# root (a loop mount, ownership) and umoci.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
golden=$("$here/scripts/build-golden-image.sh")
out=$(dirname "$golden")/oci-layout
if [ -f "$out/index.json" ]; then
  echo "$out:bookworm"
  exit 0
fi
work=$(mktemp -d "$(dirname "$golden")/oci-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "build-test-oci-image: the golden image as an OCI layer (a minute)" >&2
umoci init --layout "$work/layout"
umoci new --image "$work/layout:bookworm"
umoci unpack --image "$work/layout:bookworm" "$work/bundle" >/dev/null
rmdir "$work/bundle/rootfs"
# Copied from a read-only loop mount: debugfs rdump would lose setuid bits
# (it chowns after chmod) and extended attributes.
mkdir "$work/mnt"
mount -o loop,ro "$golden" "$work/mnt"
trap 'umount "$work/mnt" 2>/dev/null || true; rm -rf "$work"' EXIT
cp -a "$work/mnt" "$work/bundle/rootfs"
umount "$work/mnt"
test -f "$work/bundle/rootfs/etc/os-release" || { echo "build-test-oci-image: rdump made no /etc/os-release" >&2; exit 1; }
umoci repack --image "$work/layout:bookworm" "$work/bundle"
umoci gc --layout "$work/layout"
mv "$work/layout" "$out"
echo "$out:bookworm"
