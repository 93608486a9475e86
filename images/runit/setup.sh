#!/usr/bin/env bash
# The golden image's finish, for a system whose init is runit: sshd as a
# runit service (openssh-server ships /etc/sv/ssh).
set -euo pipefail
root=$1
"$(dirname "$0")/../golden/setup.sh" "$root"
mkdir -p "$root/etc/runit/runsvdir/default"
ln -sfn /etc/sv/ssh "$root/etc/runit/runsvdir/default/ssh"
