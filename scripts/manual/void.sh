#!/usr/bin/env bash
# The experimental Void flow (docs/manual-helpers.md):
#   void.sh kernel     make void-kernel:   ./build/manual/void-kernel/
#   void.sh rootfs     make rootfs-void:   ./build/manual/rootfs-void{,.work-seed}.ext4
#   void.sh register   make void-register: kernel + image `void` in banger
# Both start from Void's dated ROOTFS tarball (pinned in
# scripts/manual/pins.sh, checked by sha256); packages come from Void's
# repository through the tarball's own xbps, which checks the repository's
# signatures with the keys the tarball carries.
. "$(dirname "$0")/lib.sh"

[[ $VOID_ROOTFS_DATE =~ ^[0-9]{8}$ ]] || die "VOID_ROOTFS_DATE must look like 20250202, not '$VOID_ROOTFS_DATE'"
kernel_dir=$MANUAL_DIR/void-kernel
rootfs=$MANUAL_DIR/rootfs-void.ext4
seed=$MANUAL_DIR/rootfs-void.work-seed.ext4

# The ROOTFS tarball unpacked into $1, its repository set to VOID_MIRROR.
void_tree() {
  local tree=$1 file="void-x86_64-ROOTFS-$VOID_ROOTFS_DATE.tar.xz" pinned="" sha
  [ "$VOID_ROOTFS_DATE" != "$VOID_PINNED_ROOTFS_DATE" ] || pinned=$VOID_PINNED_ROOTFS_SHA256
  sha=$(expected_sha256 VOID_ROOTFS_SHA256 "$pinned" "$VOID_MIRROR/live/$VOID_ROOTFS_DATE/sha256sum.txt" "$file")
  fetch_checked "$VOID_MIRROR/live/$VOID_ROOTFS_DATE/$file" "$sha" "$DOWNLOADS/$file"
  say "unpacking $file"
  unpack_root "$DOWNLOADS/$file" "$tree"
  [ -x "$tree/usr/bin/xbps-install" ] || die "$file has no /usr/bin/xbps-install: not a Void ROOTFS tarball"
  mkdir -p "$tree/etc/xbps.d"
  echo "repository=$VOID_MIRROR/current" >"$tree/etc/xbps.d/00-repository-main.conf"
  # xbps first (an old xbps cannot read a newer repository), then the rest.
  in_chroot "$tree" xbps-install -Suy xbps >&2 || die "updating xbps in the Void tree failed (network, or VOID_MIRROR=$VOID_MIRROR)"
}

# Installs the packages not yet in the tree $1.
xbps_add() {
  local tree=$1 p missing=()
  shift
  for p in "$@"; do
    in_chroot "$tree" xbps-query "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "xbps-install ${missing[*]} (in a chroot)"
  in_chroot "$tree" xbps-install -y "${missing[@]}" >&2 || die "xbps-install ${missing[*]} failed"
}

kernel() {
  need_root "make void-kernel"
  need_tools curl tar xz unshare chroot sha256sum
  scratch
  local tree=$SCRATCH/tree
  void_tree "$tree"
  xbps_add "$tree" "$VOID_KERNEL"
  local mods=() d
  for d in "$tree"/usr/lib/modules/*/; do
    [ -d "$d/kernel" ] && mods+=("$d")
  done
  [ ${#mods[@]} -eq 1 ] || die "$VOID_KERNEL should install exactly one /usr/lib/modules/<release>/kernel/, found ${#mods[@]}"
  local release
  release=$(basename "${mods[0]}")
  [ -f "$tree/boot/vmlinuz-$release" ] || die "$VOID_KERNEL installed no /boot/vmlinuz-$release"
  stage_kernel "$kernel_dir" "$tree/boot/vmlinuz-$release" "$tree/boot/config-$release" "${mods[0]%/}"
}

rootfs() {
  need_root "make rootfs-void"
  need_tools curl tar xz mkfs.ext4 e2fsck unshare chroot sha256sum
  scratch
  local tree=$SCRATCH/tree
  void_tree "$tree"
  xbps_add "$tree" runit-void openssh iproute2
  # runit's default runlevel: sshd (it makes its host keys at start).
  [ -d "$tree/etc/sv/sshd" ] || die "the Void tree has no /etc/sv/sshd after installing openssh"
  mkdir -p "$tree/etc/runit/runsvdir/default"
  ln -sfn /etc/sv/sshd "$tree/etc/runit/runsvdir/default/sshd"
  sshd_include_dropins "$tree"
  echo void >"$tree/etc/hostname"
  rm -rf "$tree/var/cache/xbps/"*
  images_from_tree "$tree" "$rootfs" "$seed"
}

register() {
  register_image "$kernel_dir" void "${IMAGE_NAME:-void}" "$rootfs" "$seed"
}

run_step "$@"
