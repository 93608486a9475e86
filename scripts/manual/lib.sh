# Shared by the manual helpers (scripts/manual/*.sh, run by `make`):
# checked downloads, ext4 images made from a tree, commands in a chroot.
# Sourced, never run. Every output is written beside its final name and
# renamed into place, so a failure leaves the previous output (or none).

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=pins.sh
. "$here/pins.sh"

# Where the helpers write (./build/manual), and their download cache.
: "${MANUAL_DIR:=$repo/build/manual}"
DOWNLOADS=$MANUAL_DIR/downloads
# The banger CLI `*-register` and `make rootfs` drive (its daemon does the work).
: "${BANGER:=$repo/build/bin/banger}"

say() { printf '==> %s\n' "$*" >&2; }
die() {
  printf '%s: error: %s\n' "${0##*/}" "$*" >&2
  exit 1
}

need_root() {
  [ "$(id -u)" -eq 0 ] || die "$1 needs root (it unpacks a root filesystem with its owners and runs its package manager in a chroot): run it with sudo"
}

need_tools() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || die "$t is not installed (./scripts/install-deps.sh installs what the helpers need)"
  done
}

need_banger() {
  [ -x "$BANGER" ] || die "$BANGER does not exist: run \`make build\` first (or set BANGER=path/to/banger)"
}

# The sha256 a download must have: the one given in the environment
# variable named $1, else the pin $2 (empty when the pin is for another
# version), else the checksum file at $3 published beside the artifact,
# trusted only over HTTPS.
expected_sha256() {
  local var=$1 pinned=$2 published=$3 given
  given=${!var:-}
  if [ -n "$given" ]; then
    echo "$given"
  elif [ -n "$pinned" ]; then
    echo "$pinned"
  else
    case $published in
      https://*) ;;
      *) die "no pinned sha256 for this version and $published is not HTTPS: set $var" ;;
    esac
    say "no pin for this version: its sha256 is read from $published (set $var to pin it)"
    local sums
    sums=$(curl -fsSL --max-filesize 65536 "$published") || die "downloading $published failed (set $var to pin the sha256 instead)"
    # `HASH  FILE` (sha256sum) or `SHA256 (FILE) = HASH` (BSD style).
    local name=${4:-}
    local hash
    hash=$(printf '%s\n' "$sums" | awk -v f="$name" '
      $1 == "SHA256" && $2 == "(" f ")" { print $4; exit }
      length($1) == 64 && $1 ~ /^[0-9a-f]+$/ && (f == "" || $2 == f || $2 == "*" f) { print $1; exit }')
    [[ $hash =~ ^[0-9a-f]{64}$ ]] || die "$published has no sha256 for ${name:-the file}"
    echo "$hash"
  fi
}

# Downloads $1 to $3 unless $3 is already there with sha256 $2; checks the
# sha256 before the file gets its name. A mismatch leaves nothing behind.
fetch_checked() {
  local url=$1 want=$2 dest=$3 got
  [[ $want =~ ^[0-9a-f]{64}$ ]] || die "not a sha256 for $url: $want"
  mkdir -p "$(dirname "$dest")"
  if [ -f "$dest" ] && [ "$(sha256sum "$dest" | cut -d' ' -f1)" = "$want" ]; then
    say "cached: ${dest#"$repo"/}"
    return
  fi
  say "downloading $url"
  local progress=(--silent --show-error)
  [ -t 2 ] && progress=(--progress-bar)
  rm -f "$dest.part"
  if ! curl -fL "${progress[@]}" --retry 2 -o "$dest.part" "$url"; then
    rm -f "$dest.part"
    die "downloading $url failed"
  fi
  got=$(sha256sum "$dest.part" | cut -d' ' -f1)
  if [ "$got" != "$want" ]; then
    rm -f "$dest.part"
    die "$url has sha256 $got, expected $want: not used, nothing kept"
  fi
  mv "$dest.part" "$dest"
}

# A scratch directory beside the outputs, removed on exit whatever happens.
scratch() {
  mkdir -p "$MANUAL_DIR"
  SCRATCH=$(mktemp -d "$MANUAL_DIR/.scratch.XXXXXX")
  trap 'rm -rf "$SCRATCH"' EXIT
}

# Unpacks the tarball $1 into the directory $2 as root, owners and modes kept.
unpack_root() {
  mkdir -p "$2"
  tar -xpf "$1" --numeric-owner -C "$2" || die "unpacking $1 failed"
}

# Runs a command in the tree $1 as its root: its own /dev, /proc and /sys
# (in a private mount namespace, so nothing stays mounted), and the host's
# resolv.conf for the package manager's downloads (put back afterwards).
in_chroot() {
  local root=$1
  shift
  local keep=""
  if [ -e "$root/etc/resolv.conf" ] || [ -L "$root/etc/resolv.conf" ]; then
    keep="$root/etc/.resolv.conf.banger"
    mv "$root/etc/resolv.conf" "$keep"
  fi
  cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  local rc=0
  unshare --mount --propagation private -- sh -ec '
    root=$1; shift
    mkdir -p "$root/dev" "$root/proc" "$root/sys"
    mount --rbind /dev "$root/dev"
    mount -t proc proc "$root/proc"
    mount -t sysfs sysfs "$root/sys"
    exec chroot "$root" "$@"' sh "$root" "$@" || rc=$?
  rm -f "$root/etc/resolv.conf"
  [ -z "$keep" ] || mv "$keep" "$root/etc/resolv.conf"
  return $rc
}

# An ext4 image at $2 holding the tree $1: sized to the content plus a
# quarter and 64 MiB (at least $3 MiB, default 64), sparse, checked by e2fsck.
ext4_from_tree() {
  local tree=$1 out=$2 min=${3:-64} kib mib
  kib=$(du -sk --apparent-size "$tree" | cut -f1)
  mib=$((kib / 1024 * 5 / 4 + 64))
  [ "$mib" -ge "$min" ] || mib=$min
  rm -f "$out.part"
  truncate -s "${mib}M" "$out.part"
  mkfs.ext4 -q -F -E root_owner=0:0 -d "$tree" "$out.part" || {
    rm -f "$out.part"
    die "mkfs.ext4 of $tree failed"
  }
  e2fsck -fn "$out.part" >/dev/null || {
    rm -f "$out.part"
    die "e2fsck found errors in the image made from $tree"
  }
  mv "$out.part" "$out"
  say "wrote ${out#"$repo"/} (${mib} MiB, sparse)"
}

# The rootfs and work-seed pair of a finished tree: the work-seed is the
# tree's /root (what each VM's work disk, mounted at /root, starts as).
images_from_tree() {
  local tree=$1 rootfs=$2 seed=$3
  mkdir -p "$tree/root"
  ext4_from_tree "$tree/root" "$seed"
  ext4_from_tree "$tree" "$rootfs" 256
}

# Puts the kernel files of a staged tree into $1 (replacing what was
# there): `vmlinuz`, `config` (when known), `modules/<release>/`.
stage_kernel() {
  local out=$1 vmlinuz=$2 config=$3 modules=$4 release
  release=$(basename "$modules")
  local new="$out.new"
  rm -rf "$new"
  mkdir -p "$new/modules"
  cp "$vmlinuz" "$new/vmlinuz"
  [ -z "$config" ] || [ ! -f "$config" ] || cp "$config" "$new/config"
  cp -a "$modules" "$new/modules/$release"
  echo "$release" >"$new/release"
  rm -rf "$out"
  mv "$new" "$out"
  say "staged kernel $release in ${out#"$repo"/}"
}

# Registers the staged kernel dir $1 as kernel $2-<release> (once) and the
# image $3 from rootfs $4 and work-seed $5 with it.
register_image() {
  local kdir=$1 prefix=$2 image=$3 rootfs=$4 seed=$5 release kernel
  need_banger
  [ -f "$kdir/vmlinuz" ] || die "$kdir has no staged kernel: run the matching *-kernel target first"
  [ -f "$rootfs" ] && [ -f "$seed" ] || die "$rootfs or $seed is missing: run the matching rootfs-* target first"
  release=$(cat "$kdir/release")
  kernel=$prefix-$release
  if "$BANGER" image show "$image" >/dev/null 2>&1; then
    die "an image named $image exists: \`$BANGER image delete $image\` first (its files are yours and stay), or set IMAGE_NAME=..."
  fi
  if "$BANGER" kernel show "$kernel" >/dev/null 2>&1; then
    say "kernel $kernel is already imported"
  else
    "$BANGER" kernel import "$kernel" --vmlinux "$kdir/vmlinuz" --modules "$kdir/modules/$release"
  fi
  "$BANGER" image register --name "$image" --rootfs "$rootfs" --work-seed "$seed" --kernel-ref "$kernel"
}

# Links OpenRC service $2 into runlevel $3 of the tree $1 when the tree has it.
openrc_enable() {
  local root=$1 svc=$2 level=$3
  [ -e "$root/etc/init.d/$svc" ] || return 0
  mkdir -p "$root/etc/runlevels/$level"
  ln -sfn "/etc/init.d/$svc" "$root/etc/runlevels/$level/$svc"
}

# sshd reads banger's drop-in (/etc/ssh/sshd_config.d/banger.conf, written
# at each vm create) first: upstream's sshd_config has no Include of it.
sshd_include_dropins() {
  local conf=$1/etc/ssh/sshd_config
  [ -f "$conf" ] || die "the tree has no $conf after installing openssh"
  mkdir -p "$1/etc/ssh/sshd_config.d"
  grep -q '^Include /etc/ssh/sshd_config.d/\*\.conf' "$conf" && return 0
  { echo 'Include /etc/ssh/sshd_config.d/*.conf'; cat "$conf"; } >"$conf.new"
  mv "$conf.new" "$conf"
}

# A distribution flow's step, as make names it: kernel, rootfs or register
# (functions of the calling script).
run_step() {
  case ${1:-} in
    kernel | rootfs | register) "$1" ;;
    *) die "usage: $0 kernel|rootfs|register" ;;
  esac
}
