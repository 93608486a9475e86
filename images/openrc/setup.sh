#!/usr/bin/env bash
# The golden image's finish, for a system whose init is sysvinit running
# OpenRC: sshd in the default runlevel (debootstrap's order may install
# openssh-server before OpenRC takes over the runlevels).
set -euo pipefail
root=$1
"$(dirname "$0")/../golden/setup.sh" "$root"
mkdir -p "$root/etc/runlevels/default"
ln -sfn /etc/init.d/ssh "$root/etc/runlevels/default/ssh"
