#!/bin/sh
# banger image build: turns the build VM (a clone of the base image) into a
# dev box. Run as root by the guest agent from /root/.banger-build on the
# build VM's work disk, beside its inputs (node, npm.tgz, and tools/: the
# tools as a global npm install made on the host without running their
# scripts), all put there by the host; it reaches no network. The daemon passes NODE_VERSION, NPM_VERSION,
# NPM_REGISTRY, TOOL_SPECS, TOOL_COMMANDS and DOCKER (1: install the .debs
# in debs/ and the kernel modules in modules/), reads `::step:: ...` lines as
# progress and `::tool:: COMMAND<TAB>VERSION` lines as what was installed,
# and keeps all of the output as the image's build log.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
step() { echo "::step:: $*"; }
export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

step "checking the base"
. /etc/os-release
echo "base: ${PRETTY_NAME:-unknown}, $(uname -m), $(df -h / | tail -n1)"
[ -d /run/systemd/system ] || { echo "the base does not boot with systemd" >&2; exit 1; }

step "installing Node.js $NODE_VERSION"
install -m 0755 "$here/node" /usr/local/bin/node
node --version

step "installing npm $NPM_VERSION"
rm -rf /usr/local/lib/node_modules/npm
mkdir -p /usr/local/lib/node_modules/npm
tar -xzf "$here/npm.tgz" -C /usr/local/lib/node_modules/npm --strip-components=1 --no-same-owner
ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
ln -sf ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
npm --version

step "installing $TOOL_SPECS"
mkdir -p /usr/local/lib/node_modules /usr/local/bin
cp -a "$here/tools/lib/node_modules/." /usr/local/lib/node_modules/
cp -a "$here/tools/bin/." /usr/local/bin/
# What opencode installs into its config directory at its first start
# (its plugin package, from the registry): seeded into /root/.config/opencode
# at boot instead (banger-opencode-seed.service, below), so a fresh VM's
# opencode neither waits on the registry nor hangs offline.
mkdir -p /usr/local/share/banger
if [ -d "$here/tools/opencode-config" ]; then
  rm -rf /usr/local/share/banger/opencode-config
  cp -a "$here/tools/opencode-config" /usr/local/share/banger/opencode-config
fi
# Owned by whoever ran the daemon on the host until now.
chown -R 0:0 /usr/local/lib/node_modules /usr/local/bin /usr/local/share/banger

step "running the tools' install scripts (npm rebuild)"
npm rebuild --global --offline --no-audit --no-fund --no-update-notifier \
  --registry "$NPM_REGISTRY" --loglevel=warn

step "opencode service on 0.0.0.0:4096"
mkdir -p /usr/local/lib/banger
cat > /usr/local/lib/banger/opencode-seed <<'SEED'
#!/bin/sh
# Puts the image's opencode config seed into /root/.config/opencode (the
# work disk) unless it is there: whole into a fresh directory renamed into
# place, or, where the user's own config exists, without overwriting it.
set -eu
seed=/usr/local/share/banger/opencode-config
dest=/root/.config/opencode
[ -d "$seed" ] || exit 0
[ -e "$dest/node_modules/@opencode-ai/plugin/package.json" ] && exit 0
mkdir -p /root/.config
tmp=$(mktemp -d /root/.config/.opencode-seed.XXXXXX)
cp -a "$seed/." "$tmp/"
chmod 0755 "$tmp"
if [ -e "$dest" ]; then
  cp -an "$tmp/." "$dest/"
  rm -rf "$tmp"
else
  mv "$tmp" "$dest"
fi
SEED
chmod 0755 /usr/local/lib/banger/opencode-seed
cat > /etc/systemd/system/banger-opencode-seed.service <<'UNIT'
[Unit]
Description=opencode config seed (banger dev box)
After=local-fs.target ssh.service banger-vsock-agent.service

[Service]
Type=oneshot
# Thousands of small files: no start timeout (an emulated guest is slow).
TimeoutStartSec=infinity
Nice=10
ExecStart=/usr/local/lib/banger/opencode-seed

[Install]
WantedBy=multi-user.target
UNIT
cat > /etc/systemd/system/opencode.service <<'UNIT'
[Unit]
Description=opencode server (banger dev box), port 4096
# Not part of readiness: ordered after sshd and the agent (what readiness
# waits for), at a lower CPU priority, and nothing waits for it.
After=network-online.target local-fs.target ssh.service banger-vsock-agent.service banger-opencode-seed.service
Wants=network-online.target banger-opencode-seed.service

[Service]
Environment=HOME=/root
# The version is pinned by the image; a throwaway VM does not self-update.
Environment=OPENCODE_DISABLE_AUTOUPDATE=true
# The model list bundled with this pinned version, not models.dev: without
# a network the first request otherwise never answered (measured offline:
# no answer in 290 s; 3 s with this). A drop-in that sets it empty restores
# the fetch.
Environment=OPENCODE_DISABLE_MODELS_FETCH=1
WorkingDirectory=/root
ExecStart=/usr/local/bin/opencode serve --hostname 0.0.0.0 --port 4096
Restart=on-failure
RestartSec=2
Nice=10

[Install]
WantedBy=multi-user.target
UNIT
systemctl enable banger-opencode-seed.service opencode.service

if [ "${DOCKER:-0}" = 1 ]; then
  release=$(uname -r)
  step "kernel modules for $release"
  # The base's kernel modules (Docker's overlay, bridge and netfilter among
  # them) where modprobe looks; a VM of this image boots that kernel.
  if [ -d "$here/modules" ] && [ ! -e "/lib/modules/$release/modules.dep" ]; then
    mkdir -p "/lib/modules/$release"
    cp -a "$here/modules/." "/lib/modules/$release/"
    chown -R 0:0 "/lib/modules/$release"
  fi
  if [ -d "/lib/modules/$release" ]; then
    depmod -a "$release"
  else
    echo "warning: no modules for kernel $release (the base's kernel has none); Docker needs overlay and bridge built in" >&2
  fi
  printf 'overlay\nbr_netfilter\n' > /etc/modules-load.d/banger-docker.conf

  step "installing Docker Engine (docker.io)"
  # Installed, not started here: policy-rc.d keeps the packages' scripts
  # from starting services in the build VM.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 0755 /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "$here"/debs/*.deb
  rm -f /usr/sbin/policy-rc.d
  systemctl enable containerd.service docker.service
  # Started after what readiness waits for (the agent, sshd), so the
  # engine's start does not slow a VM's boot to ready.
  mkdir -p /etc/systemd/system/containerd.service.d
  printf '[Unit]\nAfter=ssh.service banger-vsock-agent.service\n' \
    > /etc/systemd/system/containerd.service.d/banger.conf
  # Each VM's engine makes its own identity.
  rm -f /etc/docker/key.json
fi

step "recording the tool versions"
mkdir -p /etc/banger
: > /etc/banger/tools
for cmd in $TOOL_COMMANDS; do
  version=$("$cmd" --version 2>&1 | head -n1)
  printf '%s\t%s\n' "$cmd" "$version" >> /etc/banger/tools
  printf '::tool:: %s\t%s\n' "$cmd" "$version"
done

step "cleaning up"
# Per-VM identity is made at each VM's first boot, not baked in; a VM's
# opencode password (the build VM's own, when the base is a dev box) is
# written into each VM at create.
: > /etc/machine-id
rm -f /etc/banger/opencode.env
rm -f /var/lib/dbus/machine-id
rm -rf /root/.npm /tmp/* 2>/dev/null || true
sync
