#!/usr/bin/env bash
# The experimental Alpine flow (docs/manual-helpers.md):
#   alpine.sh kernel     make alpine-kernel:   ./build/manual/alpine-kernel/
#   alpine.sh rootfs     make rootfs-alpine:   ./build/manual/rootfs-alpine{,.work-seed}.ext4
#   alpine.sh register   make alpine-register: kernel + image `alpine` in banger
# The release is pinned in scripts/manual/pins.sh; ALPINE_RELEASE=X.Y.Z
# overrides it.
. "$(dirname "$0")/lib.sh"

[[ $ALPINE_RELEASE =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "ALPINE_RELEASE must look like 3.24.1, not '$ALPINE_RELEASE'"
branch=v${ALPINE_RELEASE%.*}
releases=$ALPINE_MIRROR/$branch/releases/x86_64
kernel_dir=$MANUAL_DIR/alpine-kernel
rootfs=$MANUAL_DIR/rootfs-alpine.ext4
seed=$MANUAL_DIR/rootfs-alpine.work-seed.ext4

pin() { [ "$ALPINE_RELEASE" = "$ALPINE_PINNED_RELEASE" ] && echo "$1" || true; }

# Downloads (or finds cached) the release artifact $1, checked; prints its path.
release_file() {
  local file=$1 var=$2 pinned=$3 sha
  sha=$(expected_sha256 "$var" "$(pin "$pinned")" "$releases/$file.sha256" "$file")
  fetch_checked "$releases/$file" "$sha" "$DOWNLOADS/$file"
  echo "$DOWNLOADS/$file"
}

kernel() {
  need_tools curl tar unsquashfs sha256sum
  scratch
  local bundle
  bundle=$(release_file "alpine-netboot-$ALPINE_RELEASE-x86_64.tar.gz" ALPINE_NETBOOT_SHA256 "$ALPINE_PINNED_NETBOOT_SHA256")
  local boot=$SCRATCH/boot
  tar -xzf "$bundle" -C "$SCRATCH" "boot/vmlinuz-$ALPINE_FLAVOR" "boot/modloop-$ALPINE_FLAVOR" ||
    die "$bundle has no boot/vmlinuz-$ALPINE_FLAVOR and boot/modloop-$ALPINE_FLAVOR (ALPINE_FLAVOR=$ALPINE_FLAVOR)"
  tar -xzf "$bundle" -C "$SCRATCH" "boot/config-$ALPINE_FLAVOR" 2>/dev/null || true
  # The modloop is a squashfs of modules/<release>/ (and modules/firmware/,
  # which is not a release: a release directory has kernel/ in it).
  unsquashfs -q -n -d "$SCRATCH/modloop" "$boot/modloop-$ALPINE_FLAVOR" >/dev/null ||
    die "unsquashfs of modloop-$ALPINE_FLAVOR failed"
  local releases_found=() d
  for d in "$SCRATCH"/modloop/modules/*/; do
    [ -d "$d/kernel" ] && releases_found+=("$d")
  done
  [ ${#releases_found[@]} -eq 1 ] ||
    die "modloop-$ALPINE_FLAVOR should hold exactly one modules/<release>/kernel/, found ${#releases_found[@]}"
  stage_kernel "$kernel_dir" "$boot/vmlinuz-$ALPINE_FLAVOR" "$boot/config-$ALPINE_FLAVOR" "${releases_found[0]%/}"
}

# OpenRC's own boot services, as Alpine's installer enables them (no
# hwclock: a microVM may have no RTC), plus root and localmount named
# (the agent's service orders itself after localmount: /root is the work
# disk) and seedrng where the release has it. Only those the tree has.
RUNLEVELS="sysinit:devfs sysinit:dmesg sysinit:mdev sysinit:hwdrivers
boot:root boot:localmount boot:modules boot:sysctl boot:hostname boot:bootmisc boot:syslog boot:seedrng
shutdown:mount-ro shutdown:killprocs shutdown:savecache
default:sshd default:opencode"

rootfs() {
  need_root "make rootfs-alpine"
  need_tools curl tar mkfs.ext4 e2fsck unshare chroot sha256sum
  scratch
  local mini opencode
  mini=$(release_file "alpine-minirootfs-$ALPINE_RELEASE-x86_64.tar.gz" ALPINE_MINIROOTFS_SHA256 "$ALPINE_PINNED_MINIROOTFS_SHA256")
  local oc_pin=""
  [ "$OPENCODE_MUSL_VERSION" != "$OPENCODE_MUSL_PINNED_VERSION" ] || oc_pin=$OPENCODE_MUSL_PINNED_SHA256
  local oc_file="opencode-linux-x64-musl-$OPENCODE_MUSL_VERSION.tgz"
  [ -n "${OPENCODE_MUSL_SHA256:-}$oc_pin" ] ||
    die "no pinned sha256 for opencode-linux-x64-musl $OPENCODE_MUSL_VERSION: set OPENCODE_MUSL_SHA256"
  fetch_checked "$NPM_REGISTRY/opencode-linux-x64-musl/-/$oc_file" "${OPENCODE_MUSL_SHA256:-$oc_pin}" "$DOWNLOADS/$oc_file"
  opencode=$DOWNLOADS/$oc_file

  local tree=$SCRATCH/tree
  say "unpacking ${mini##*/}"
  unpack_root "$mini" "$tree"
  [ -x "$tree/sbin/apk" ] || die "${mini##*/} has no /sbin/apk: not an Alpine mini root filesystem"
  # apk checks every package against the keys the (checked) minirootfs
  # carries in /etc/apk/keys.
  printf '%s/%s/main\n%s/%s/community\n' "$ALPINE_MIRROR" "$branch" "$ALPINE_MIRROR" "$branch" >"$tree/etc/apk/repositories"
  say "apk add: OpenRC, sshd and opencode's runtime libraries (in a chroot)"
  in_chroot "$tree" /sbin/apk add --no-cache --quiet \
    alpine-base openssh-server libstdc++ libgcc ca-certificates iproute2 ||
    die "apk add in the Alpine tree failed (network, or ALPINE_MIRROR=$ALPINE_MIRROR)"

  say "opencode $OPENCODE_MUSL_VERSION (musl) and its OpenRC service"
  mkdir -p "$tree/usr/local/bin" "$SCRATCH/opencode"
  tar -xzf "$opencode" -C "$SCRATCH/opencode" package/bin/opencode || die "$opencode has no package/bin/opencode"
  install -m 0755 "$SCRATCH/opencode/package/bin/opencode" "$tree/usr/local/bin/opencode"
  install -m 0755 "$here/alpine-opencode.initd" "$tree/etc/init.d/opencode"

  local entry
  for entry in $RUNLEVELS; do
    openrc_enable "$tree" "${entry#*:}" "${entry%%:*}"
  done
  [ -e "$tree/etc/init.d/sshd" ] || die "the Alpine tree has no /etc/init.d/sshd after apk add openssh-server"
  sshd_include_dropins "$tree"
  echo alpine >"$tree/etc/hostname"
  rm -rf "$tree/var/cache/apk/"*
  images_from_tree "$tree" "$rootfs" "$seed"
}

register() {
  register_image "$kernel_dir" alpine "${IMAGE_NAME:-alpine}" "$rootfs" "$seed"
}

run_step "$@"
