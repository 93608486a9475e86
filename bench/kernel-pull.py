#!/usr/bin/env python3
"""`banger kernel pull` of the built-in catalog's kernels against apt,
side by side, from the real Debian archive (deb.debian.org).

For each kernel, N runs each way, alternating:

- banger: `banger kernel pull NAME` in an empty store, cold: the suite's
  InRelease (gpgv), the Packages index (sha256), the .deb (sha256), then
  the import (vmlinux, depmod, initrd).
- baseline: apt with a private configuration in a fresh directory, cold as
  well (`apt-get update` of the same suites, main only, no translations,
  then `apt-get download` of the same package, apt checking the same
  signatures and hashes), then `banger kernel import NAME --deb FILE`.
- baseline, lists warm: the same `apt-get download` + `kernel import` with
  the lists already fetched (what a host that ran `apt-get update` pays).

  bench/kernel-pull.py [--runs N] [--kernels generic-6.12,generic-6.1]

Medians; ratios are banger / baseline (at or below 1.0 banger is not
slower). Needs network to the Debian archive, apt, gpgv and the
debian-archive-keyring package (scripts/install-deps.sh), and a built
banger (make build, or BANGER=...).
"""
import argparse, json, os, shutil, statistics, subprocess, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BANGER = os.environ.get("BANGER", os.path.join(ROOT, "build/bin/banger"))
MIRROR = "http://deb.debian.org/debian"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
SUITE = {"generic-6.1": "bookworm", "generic-6.12": "trixie"}


def sh(*args, env=None, **kw):
    return subprocess.run(args, env=env, check=True, capture_output=True, text=True, **kw)


def timed(fn):
    t = time.monotonic()
    fn()
    return time.monotonic() - t


def apt_env(work, suite):
    """A private apt: its own sources, lists and cache under `work`."""
    os.makedirs(f"{work}/lists/partial", exist_ok=True)
    os.makedirs(f"{work}/archives/partial", exist_ok=True)
    with open(f"{work}/sources.list", "w") as f:
        f.write(f"deb [signed-by={KEYRING}] {MIRROR}-security {suite}-security main\n"
                f"deb [signed-by={KEYRING}] {MIRROR} {suite} main\n")
    with open(f"{work}/apt.conf", "w") as f:
        f.write(f'Dir::Etc::SourceList "{work}/sources.list";\nDir::Etc::SourceParts "/nonexistent";\n'
                f'Dir::State::Lists "{work}/lists";\nDir::Cache "{work}/cache";\n'
                f'Dir::State::status "/dev/null";\nAcquire::Languages "none";\n'
                f'APT::Architecture "amd64";\nAPT::Architectures "amd64";\n')
    return dict(os.environ, APT_CONFIG=f"{work}/apt.conf")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kernels", default="generic-6.12,generic-6.1")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bgrbenchkernel", dir="/var/tmp")
    home = f"{work}/home"
    env = dict(os.environ, XDG_CONFIG_HOME=f"{home}/config", XDG_DATA_HOME=f"{home}/data",
               XDG_STATE_HOME=f"{home}/state", XDG_RUNTIME_DIR=f"{home}/run", HOME=f"{home}/home")
    os.makedirs(f"{home}/config/banger")
    os.makedirs(f"{home}/home")
    os.makedirs(f"{home}/run", mode=0o700)
    with open(f"{home}/config/banger/config.toml", "w") as f:
        f.write("web_listen_addr = \"\"\n")
    sh(BANGER, "daemon", "start", env=env)
    results = {}
    try:
        for name in args.kernels.split(","):
            suite = SUITE[name]
            times = {"banger": [], "apt cold": [], "apt warm lists": []}
            package = None

            def banger():
                nonlocal package
                sh(BANGER, "kernel", "pull", name, env=env)
                k = json.loads(sh(BANGER, "kernel", "show", name, "--json", env=env).stdout)
                package = k["source"].split()[2]
                sh(BANGER, "kernel", "delete", name, env=env)

            def apt(cold):
                d = f"{work}/apt-{suite}"
                if cold:
                    shutil.rmtree(d, ignore_errors=True)
                aenv = apt_env(d, suite)
                if cold:
                    sh("apt-get", "-q", "update", env=aenv)
                dl = f"{work}/dl"
                shutil.rmtree(dl, ignore_errors=True)
                os.makedirs(dl)
                sh("apt-get", "-q", "download", package, env=aenv, cwd=dl)
                deb = os.path.join(dl, os.listdir(dl)[0])
                sh(BANGER, "kernel", "import", name, "--deb", deb, env=env)
                sh(BANGER, "kernel", "delete", name, env=env)

            banger()  # learns the package name; not counted
            for i in range(args.runs):
                steps = [("banger", banger), ("apt cold", lambda: apt(True)),
                         ("apt warm lists", lambda: apt(False))]
                for label, fn in steps[i % 3:] + steps[:i % 3]:
                    sh("sync")
                    times[label].append(timed(fn))
            med = {k: statistics.median(v) for k, v in times.items()}
            results[name] = med
            print(f"{name} ({package}), medians of {args.runs}:")
            for k, v in med.items():
                print(f"  {k:<16} {v:6.2f} s")
            print(f"  banger / apt cold       {med['banger'] / med['apt cold']:.2f}")
            print(f"  banger / apt warm lists {med['banger'] / med['apt warm lists']:.2f}")
    finally:
        subprocess.run([BANGER, "daemon", "stop"], env=env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
