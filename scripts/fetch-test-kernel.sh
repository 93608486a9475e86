#!/usr/bin/env bash
# Prints the path of Debian bookworm's cloud kernel package, downloading it
# with apt-get into a cache outside the repository on first use.
# Cache: $BANGER_TEST_CACHE (default /var/tmp/banger-test-cache).
set -euo pipefail
cache=${BANGER_TEST_CACHE:-/var/tmp/banger-test-cache}/debs
mkdir -p "$cache"
# The metapackage names the current ABI's image package.
pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n1)
if [ -z "$pkg" ]; then
  apt-get update -q >&2
  pkg=$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n1)
fi
[ -n "$pkg" ] || { echo "fetch-test-kernel: cannot resolve linux-image-cloud-amd64" >&2; exit 1; }
existing=$(ls "$cache/${pkg}"_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$existing" ]; then
  (cd "$cache" && apt-get download -q "$pkg" >&2)
  existing=$(ls "$cache/${pkg}"_*.deb | head -n1)
fi
echo "$existing"
