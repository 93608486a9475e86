#!/usr/bin/env bash
# `make rootfs ARGS='--base-rootfs R --kernel K [--initrd I] [--modules M]
#                    [--work-seed W] [--size S]'`
# -> ./build/manual/rootfs-docker.ext4 and rootfs-docker.work-seed.ext4:
# a Debian dev box with Docker Engine, made by `banger image build --docker`
# itself (the same provisioning, docs/image-build.md) from R booted on K.
# The files given are never modified; the two temporary images this
# registers and builds are deleted whatever happens.
. "$(dirname "$0")/lib.sh"

usage="usage: make rootfs ARGS='--base-rootfs /abs/rootfs.ext4 --kernel /abs/vmlinux [--initrd /abs/initrd.img] [--modules /abs/modules] [--work-seed /abs/seed.ext4] [--size 8G]'"
base_rootfs="" kernel="" initrd="" modules="" work_seed="" size=""
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || die "$1 needs a value; $usage"
  case $1 in
    --base-rootfs) base_rootfs=$2 ;;
    --kernel) kernel=$2 ;;
    --initrd) initrd=$2 ;;
    --modules) modules=$2 ;;
    --work-seed) work_seed=$2 ;;
    --size) size=$2 ;;
    *) die "unknown argument $1; $usage" ;;
  esac
  shift 2
done
[ -n "$base_rootfs" ] && [ -n "$kernel" ] || die "--base-rootfs and --kernel are required; $usage"
for f in "$base_rootfs" "$kernel" "$initrd" "$work_seed"; do
  [ -z "$f" ] || [ -f "$f" ] || die "$f does not exist"
done
[ -z "$modules" ] || [ -d "$modules" ] || die "$modules is not a directory"
need_banger
need_tools debugfs mkfs.ext4 e2fsck python3

out=$MANUAL_DIR/rootfs-docker.ext4
out_seed=$MANUAL_DIR/rootfs-docker.work-seed.ext4
tag=$(date +%s)-$$
base=manual-base-$tag
built=manual-docker-$tag
scratch
cleanup() {
  "$BANGER" image delete "$built" >/dev/null 2>&1 || true
  "$BANGER" image delete "$base" >/dev/null 2>&1 || true
  rm -rf "$SCRATCH" "$out.part" "$out_seed.part"
}
trap cleanup EXIT

register=(image register --name "$base" --rootfs "$base_rootfs" --kernel "$kernel")
[ -z "$initrd" ] || register+=(--initrd "$initrd")
[ -z "$modules" ] || register+=(--modules "$modules")
[ -z "$work_seed" ] || register+=(--work-seed "$work_seed")
say "registering the base as $base (temporary)"
"$BANGER" "${register[@]}" >/dev/null

build=(image build --name "$built" --from-image "$base" --docker)
[ -z "$size" ] || build+=(--size "$size")
say "banger ${build[*]}"
"$BANGER" "${build[@]}"

# The built image's files: its rootfs, and the work-seed it kept from the
# base (or, without one, the base's /root as a work-seed).
"$BANGER" image show "$built" --json >"$SCRATCH/image.json"
field() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print(v or "")' "$SCRATCH/image.json" "$1"; }
rootfs_file=$(field rootfs)
seed_file=$(field work_seed)
[ -f "$rootfs_file" ] || die "image $built has no rootfs file at '$rootfs_file'"
mkdir -p "$MANUAL_DIR"
cp --sparse=always "$rootfs_file" "$out.part"
if [ -n "$seed_file" ]; then
  cp --sparse=always "$seed_file" "$out_seed.part"
  mv "$out_seed.part" "$out_seed"
else
  mkdir -p "$SCRATCH/root"
  debugfs -R "rdump /root $SCRATCH" "$base_rootfs" >/dev/null 2>&1 || true
  ext4_from_tree "$SCRATCH/root" "$out_seed"
fi
mv "$out.part" "$out"
say "wrote ${out#"$repo"/} and ${out_seed#"$repo"/}; register them with: banger image register --name docker-dev --rootfs $out --work-seed $out_seed --kernel $kernel${initrd:+ --initrd $initrd}${modules:+ --modules $modules}"
