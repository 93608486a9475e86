# The one place the manual helpers' downloads are pinned. Each variable
# may be overridden from the environment (or on the make command line).
#
# Provenance of each hash is written beside it; docs/manual-helpers.md says
# which were checked against the real upstream from these machines.

# Alpine: the release the alpine-* helpers stage. ALPINE_RELEASE=X.Y.Z
# picks another patch release; its hashes are then read from the
# `.sha256` files published beside the artifacts (HTTPS mirrors only)
# unless given as ALPINE_MINIROOTFS_SHA256 / ALPINE_NETBOOT_SHA256.
ALPINE_PINNED_RELEASE=3.24.1
# From Alpine's latest-releases.yaml for 3.24.1 (x86_64), as quoted in a
# public repository; not downloaded from these machines (no route to Alpine).
ALPINE_PINNED_MINIROOTFS_SHA256=41f73e3cf5fa919b8aa5ca6b30dc48f0da2720776d7423e2a7748211456fe081
ALPINE_PINNED_NETBOOT_SHA256=9a7769ea8fa1737b1b49d82f1bdd53d0a17338d6d3b7cfc6f2c3ec5158596d8b
: "${ALPINE_RELEASE:=$ALPINE_PINNED_RELEASE}"
: "${ALPINE_MIRROR:=https://dl-cdn.alpinelinux.org/alpine}"
# The kernel flavour from the netboot bundle (virt: virtio drivers, small).
: "${ALPINE_FLAVOR:=virt}"

# Void: the dated ROOTFS tarball (glibc, x86_64) both void-* helpers start
# from, and the kernel series `make void-kernel` installs from Void's
# repository with the tarball's own xbps (which checks the repository's
# signature with the keys the tarball carries).
: "${VOID_ROOTFS_DATE:=20250202}"
# From Void's sha256sum.txt for 20250202, as quoted in a public
# repository; not downloaded from these machines (no route to Void).
VOID_PINNED_ROOTFS_DATE=20250202
VOID_PINNED_ROOTFS_SHA256=3f48e6673ac5907a897d913c97eb96edbfb230162731b4016562c51b3b8f1876
: "${VOID_MIRROR:=https://repo-default.voidlinux.org}"
: "${VOID_KERNEL:=linux6.12}"

# opencode's musl build for Alpine (Alpine images are opencode-only):
# the npm package's tarball, sha256 taken from a download from
# registry.npmjs.org on 2026-12-03 (it matched the registry's sha512
# integrity). 1.18.32 is the newest musl build published (glibc images get
# 1.18.33, crates/bangerd/src/build/tools.toml).
: "${NPM_REGISTRY:=https://registry.npmjs.org}"
: "${OPENCODE_MUSL_VERSION:=1.18.32}"
OPENCODE_MUSL_PINNED_VERSION=1.18.32
OPENCODE_MUSL_PINNED_SHA256=d4bb1f8d8acda656bb1bb177d288dd22f31c27d6a0feac8752d9b5a9c728604b
