#!/usr/bin/env bash
# Usage: check-install-layout.sh PREFIX
# Runs the banger installed under PREFIX in a throwaway home and checks that
# its daemon starts on demand and finds the guest agent in PREFIX/lib/banger.
set -euo pipefail
prefix=$(cd "$1" && pwd)
home=$(mktemp -d)
export HOME=$home/home XDG_CONFIG_HOME=$home/config XDG_DATA_HOME=$home/data \
  XDG_STATE_HOME=$home/state XDG_RUNTIME_DIR=$home/run
mkdir -p "$HOME" "$XDG_CONFIG_HOME/banger" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
echo 'web_listen_addr = ""' > "$XDG_CONFIG_HOME/banger/config.toml"
cleanup() { "$prefix/bin/banger" daemon stop >/dev/null 2>&1 || true; rm -rf "$home"; }
trap cleanup EXIT

agent=$("$prefix/bin/banger" daemon start >/dev/null && "$prefix/bin/banger" daemon status --json \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["agent_path"])')
want="$prefix/lib/banger/banger-vsock-agent"
if [ "$agent" != "$want" ]; then
  echo "installed daemon found the agent at '$agent', expected '$want'" >&2
  exit 1
fi
echo "install layout ok: agent at $agent"
