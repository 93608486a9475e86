#!/usr/bin/env python3
"""`banger vm workspace prepare` against `tar | ssh` into the same VM.

A repository of --mb MiB of incompressible files (committed), --history
commits each rewriting a 1 MiB file (history the working tree does not
show), and --submodules populated submodules (each with a tenth of the
files and of the history) is sent into one running VM (banger's golden
Debian image) every way, alternating, N runs each; medians are compared as
a throughput ratio (baseline time / banger time; above 1.0 banger is
faster):

- banger shallow-overlay (default): git packs of HEAD + the working trees
  and indexes, the top checkout's and each submodule's
- banger metadata-only: the same packs, files checked out in the guest
- banger full-copy: the whole directory as one tar through the agent
- baseline: `tar -C REPO -cf - . | ssh root@VM 'tar -C DIR -xf -'`, with
  banger's key and known_hosts (the same bytes as full-copy).

  bench/workspace-prepare.py [--runs N] [--mb MiB] [--history N] [--submodules N]

Runs in a network namespace of its own with a throwaway home; needs root,
the test kernel (scripts/fetch-test-kernel.sh) and the golden image
(scripts/build-golden-image.sh).
"""
from netns import remove_home, run_in_own_netns
import argparse, json, os, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BANGER = os.environ.get("BANGER", os.path.join(ROOT, "build/bin/banger"))

def sh(*args, env, check=True, **kw):
    return subprocess.run(args, env=env, check=check, capture_output=True, text=True, **kw)

GENV = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@x", GIT_COMMITTER_NAME="b",
            GIT_COMMITTER_EMAIL="b@x", GIT_CONFIG_PARAMETERS="'protocol.file.allow'='always'")

def make_repo(path, mb, history, submodules=0, src=None):
    os.makedirs(path)
    git = lambda *a: subprocess.run(["git", "-C", path, *a], check=True, env=GENV, capture_output=True)
    git("init", "-q")
    per = 256 * 1024
    for i in range(mb * 4):
        d = os.path.join(path, f"d{i % 40}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i}.bin"), "wb") as f:
            f.write(os.urandom(per))
    git("add", "-A")
    git("commit", "-q", "-m", "data")
    for i in range(history):
        with open(os.path.join(path, "churn.bin"), "wb") as f:
            f.write(os.urandom(1 << 20))
        git("add", "churn.bin")
        git("commit", "-q", "-m", f"churn {i}")
    for i in range(submodules):
        sub = os.path.join(src, f"sub{i}")
        make_repo(sub, max(1, mb // 10), history // 10)
        git("submodule", "add", "-q", sub, f"sub{i}")
    if submodules:
        git("commit", "-q", "-m", "submodules")

def timed(fn):
    t = time.monotonic()
    fn()
    return time.monotonic() - t

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--history", type=int, default=100)
    ap.add_argument("--submodules", type=int, default=3)
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="bgrbenchws")
    env = dict(os.environ, XDG_CONFIG_HOME=f"{home}/config", XDG_DATA_HOME=f"{home}/data",
               XDG_STATE_HOME=f"{home}/state", XDG_RUNTIME_DIR=f"{home}/run")
    os.makedirs(f"{home}/config/banger")
    os.makedirs(f"{home}/run", mode=0o700)
    with open(f"{home}/config/banger/config.toml", "w") as f:
        f.write("web_listen_addr = \"\"\nlog_level = \"debug\"\n")
    try:
        deb = subprocess.run([f"{ROOT}/scripts/fetch-test-kernel.sh"], check=True, capture_output=True, text=True).stdout.strip()
        golden = subprocess.run([f"{ROOT}/scripts/build-golden-image.sh"], check=True, capture_output=True, text=True).stdout.strip()
        sh(BANGER, "kernel", "import", "k", "--deb", deb, env=env)
        sh(BANGER, "image", "register", "--name", "deb", "--rootfs", golden, "--kernel-ref", "k", env=env)
        vm = json.loads(sh(BANGER, "vm", "create", "--image", "deb", "--name", "b", "--disk-size", "8192", "--json", env=env).stdout)
        repo = os.path.join(home, "repo")
        make_repo(repo, args.mb, args.history, args.submodules, os.path.join(home, "subs"))
        ssh = ["ssh", "-i", f"{home}/config/banger/ssh/id_ed25519", "-o", "IdentitiesOnly=yes",
               "-o", f"UserKnownHostsFile={home}/config/banger/ssh/known_hosts", "-o", "StrictHostKeyChecking=yes",
               "-o", "BatchMode=yes", f"root@{vm['ip']}"]
        def baseline():
            subprocess.run(ssh + ["rm -rf /root/base && mkdir -p /root/base"], check=True)
            tar = subprocess.Popen(["tar", "-C", repo, "-cf", "-", "."], stdout=subprocess.PIPE)
            subprocess.run(ssh + ["tar -C /root/base -xf -"], stdin=tar.stdout, check=True)
            tar.wait()
        times = {"overlay": [], "metadata": [], "full": [], "tar|ssh": []}
        for _ in range(args.runs):
            times["overlay"].append(timed(lambda: sh(BANGER, "vm", "workspace", "prepare", "b", repo, env=env)))
            times["metadata"].append(timed(lambda: sh(BANGER, "vm", "workspace", "prepare", "b", repo, "--guest-path", "/root/meta", "--mode", "metadata-only", env=env)))
            times["full"].append(timed(lambda: sh(BANGER, "vm", "workspace", "prepare", "b", repo, "--guest-path", "/root/full", "--mode", "full-copy", env=env)))
            times["tar|ssh"].append(timed(baseline))
        med = {k: statistics.median(v) for k, v in times.items()}
        size = int(subprocess.run(["du", "-sm", repo], capture_output=True, text=True).stdout.split()[0])
        print(f"repository: {size} MiB on disk ({args.mb} MiB of files, {args.history} history commits of 1 MiB, {args.submodules} submodules, .git), runs: {args.runs}")
        for k, v in times.items():
            print(f"{k:>8}: median {med[k]:.2f}s ({size / med[k]:.1f} MiB/s)  all: {', '.join(f'{x:.2f}' for x in v)}")
        print(f"ratio tar|ssh / banger shallow-overlay: {med['tar|ssh'] / med['overlay']:.2f}")
        print(f"ratio tar|ssh / banger metadata-only:   {med['tar|ssh'] / med['metadata']:.2f}")
        print(f"ratio tar|ssh / banger full-copy:       {med['tar|ssh'] / med['full']:.2f}")
        # Where banger's time went (the daemon logs each phase at debug).
        with open(f"{home}/state/banger/bangerd.log") as log:
            for line in log:
                if "workspace:" in line:
                    print("  daemon:", line.split("DEBUG", 1)[-1].strip())
    finally:
        remove_home(BANGER, home, env)

if __name__ == "__main__":
    sys.exit(run_in_own_netns(main))
