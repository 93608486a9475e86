#!/usr/bin/env bash
# Builds kernel catalog artifacts and catalog.json from Debian kernel packages.
#
#   scripts/kernel-catalog.sh OUT_DIR NAME=PACKAGE.deb [NAME=PACKAGE.deb ...]
#
# e.g. scripts/kernel-catalog.sh /srv/kernels generic-6.1=linux-image-6.1.0-28-cloud-amd64_*.deb
#
# Each package is imported with `banger kernel import` (in a throwaway home,
# so your own store is untouched); OUT_DIR/NAME/ then gets the ELF vmlinux
# and modules.tar.gz (the contents of lib/modules/<release>/, depmod index
# included). No initrd is published: `banger kernel pull` generates it with
# the pulling host's own guest agent. catalog.json names artifacts by URLs
# relative to itself, so OUT_DIR can be served from any URL or used as a
# local path (kernel_catalog = "file:///srv/kernels/catalog.json").
#
# BANGER names the banger binary (default: ./build/bin/banger).
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,17p' "$0" >&2; exit 2; }
out=$1; shift
banger=${BANGER:-./build/bin/banger}
[ -x "$banger" ] || { echo "kernel-catalog: $banger not found; run make build or set BANGER" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)

home=$(mktemp -d)
export HOME=$home/home XDG_CONFIG_HOME=$home/config XDG_DATA_HOME=$home/data \
  XDG_STATE_HOME=$home/state XDG_RUNTIME_DIR=$home/run
mkdir -p "$HOME" "$XDG_CONFIG_HOME/banger" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
echo 'web_listen_addr = ""' > "$XDG_CONFIG_HOME/banger/config.toml"
cleanup() { "$banger" daemon stop >/dev/null 2>&1 || true; rm -rf "$home"; }
trap cleanup EXIT

entries=()
for pair in "$@"; do
  name=${pair%%=*}
  deb=${pair#*=}
  [ "$name" != "$pair" ] && [ -f "$deb" ] || { echo "kernel-catalog: expected NAME=PACKAGE.deb, got '$pair'" >&2; exit 2; }
  deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
  echo "kernel-catalog: importing $name from $(basename "$deb")" >&2
  "$banger" kernel import "$name" --deb "$deb" >&2
  json=$("$banger" kernel show "$name" --json)
  release=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])' <<<"$json")
  dir=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["dir"])' <<<"$json")
  mkdir -p "$out/$name"
  cp "$dir/vmlinux" "$out/$name/vmlinux"
  tar -C "$dir/modules" --sort=name --owner=0 --group=0 --numeric-owner -czf "$out/$name/modules.tar.gz" .
  entries+=("$name|$release|Debian $(basename "$deb" .deb)")
done

python3 - "$out" "${entries[@]}" <<'PY'
import hashlib, json, os, sys
out, entries = sys.argv[1], sys.argv[2:]
def artifact(rel):
    path = os.path.join(out, rel)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return {"url": rel, "size": os.path.getsize(path), "sha256": digest}
kernels = []
for e in entries:
    name, release, description = e.split("|", 2)
    kernels.append({
        "name": name, "version": release, "arch": "x86_64", "description": description,
        "artifacts": {"kernel": artifact(f"{name}/vmlinux"), "modules": artifact(f"{name}/modules.tar.gz")},
    })
with open(os.path.join(out, "catalog.json"), "w") as f:
    json.dump({"schema": 1, "kernels": kernels}, f, indent=2)
    f.write("\n")
print(os.path.join(out, "catalog.json"))
PY
