#!/usr/bin/env bash
# Finishes a debootstrapped tree (argument: its directory) into banger's
# golden image. Runs on the host against the tree; nothing runs inside it.
set -euo pipefail
root=$1

echo banger > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tbanger\n' > "$root/etc/hosts"
# Root on the first disk. banger adds /dev/vdb -> /root to each VM's copy.
printf '/dev/vda / ext4 defaults 0 1\n' > "$root/etc/fstab"
# Every VM must get its own machine id (systemd makes one at first boot).
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
# Every VM gets its own SSH host keys (banger removes the image's anyway).
rm -f "$root"/etc/ssh/ssh_host_*
# Package caches have no use in a guest.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
mkdir -p "$root/root"
chmod 700 "$root/root"
