#!/usr/bin/env python3
"""banger vm run, warm (a VM claimed from the warm pool) against cold (the
same image booted for the run), side by side in one run; medians of N.

  warm      `banger vm run -- true`, the pool holding a ready VM
  cold      `banger vm run --cold -- true`, the pool full and idle (so no
            refill boot competes with the cold boot)
  warm+repo `banger vm run REPO -- true` with a small repository (12 files,
            a few commits), warm
  split     the warm path in three commands, each timed: `vm create`
            (the claim), `vm workspace prepare VM REPO`, `vm exec VM -- true`

Between runs the script waits, untimed, until the pool is full again
(`daemon status --json`). Every VM made is deleted, untimed.

  bench/vm-run.py [--runs N]

Uses ./build/bin/banger (BANGER overrides) in a throwaway home, inside a
network namespace of its own; needs root, the test kernel
(scripts/fetch-test-kernel.sh) and banger's golden Debian image (systemd,
sshd, git: scripts/build-golden-image.sh).
"""
from netns import remove_home, run_in_own_netns, throwaway_home
import argparse, json, os, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BANGER = os.environ.get("BANGER", os.path.join(ROOT, "build/bin/banger"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def sh(*args, env, check=True):
    r = subprocess.run(args, env=env, capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r


def timed(*args, env):
    t = time.monotonic()
    sh(*args, env=env)
    return time.monotonic() - t


def wait_pool_full(env, size, limit=600):
    start = time.monotonic()
    while time.monotonic() - start < limit:
        status = json.loads(sh(BANGER, "daemon", "status", "--json", env=env).stdout)
        pool = status["warm_pool"]
        if pool["images"] and pool["images"][0]["ready"] >= size and pool["images"][0]["booting"] == 0:
            return
        if (pool.get("last_error") or "").startswith("booting"):
            sys.exit(f"the warm pool failed: {pool['last_error']}")
        time.sleep(0.5)
    sys.exit("the warm pool did not fill within 10 minutes")


def small_repo(path):
    os.makedirs(path)
    g = lambda *a: subprocess.run(["git", "-C", path, *a], check=True, capture_output=True)
    g("init", "-q", "-b", "main")
    for c in range(3):
        for i in range(4):
            with open(os.path.join(path, f"file{c}{i}.txt"), "w") as f:
                f.write(f"commit {c} file {i}\n" * 20)
        g("add", "-A")
        g("-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-q", "-m", f"c{c}")


def med(xs):
    return statistics.median(xs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    home, env = throwaway_home('web_listen_addr = ""\ndefault_image_name = "img"\nwarm_pool_size = 1\n')
    try:
        deb = subprocess.run([f"{ROOT}/scripts/fetch-test-kernel.sh"], check=True, capture_output=True, text=True).stdout.strip()
        sh(BANGER, "daemon", "start", env=env)
        sh(BANGER, "kernel", "import", "k", "--deb", deb, env=env)
        # The golden image: the repository runs need git in the guest.
        rootfs = subprocess.run([f"{ROOT}/scripts/build-golden-image.sh"], check=True, capture_output=True,
                                text=True).stdout.strip()
        sh(BANGER, "image", "register", "--name", "img", "--rootfs", rootfs, "--kernel-ref", "k", env=env)
        repo = os.path.join(home, "repo")
        small_repo(repo)
        warm, cold, warm_repo, claim, prepare, execs, idle_prepare = [], [], [], [], [], [], []
        for i in range(args.runs):
            wait_pool_full(env, 1)
            warm.append(timed(BANGER, "vm", "run", "--name", f"w{i}", "--", "true", env=env))
            wait_pool_full(env, 1)
            cold.append(timed(BANGER, "vm", "run", "--cold", "--name", f"c{i}", "--", "true", env=env))
            wait_pool_full(env, 1)
            warm_repo.append(timed(BANGER, "vm", "run", repo, "--name", f"r{i}", "--", "true", env=env))
            wait_pool_full(env, 1)
            claim.append(timed(BANGER, "vm", "create", "--name", f"s{i}", env=env))
            prepare.append(timed(BANGER, "vm", "workspace", "prepare", f"s{i}", repo, env=env))
            execs.append(timed(BANGER, "vm", "exec", f"s{i}", "--", "true", env=env))
            # The same prepare once the refill boot is over: what the
            # refill's competition for the CPUs costs.
            wait_pool_full(env, 1)
            idle_prepare.append(timed(BANGER, "vm", "workspace", "prepare", f"s{i}", repo, "--guest-path", "/root/again", env=env))
            for vm in [f"w{i}", f"c{i}", f"r{i}", f"s{i}"]:
                sh(BANGER, "vm", "delete", "--force", vm, env=env)
        all_ = lambda xs: ", ".join(f"{x:.2f}" for x in xs)
        print(f"image: golden, runs: {args.runs}")
        print(f"vm run -- true, warm      : median {med(warm):.2f}s  ({all_(warm)})")
        print(f"vm run -- true, cold      : median {med(cold):.2f}s  ({all_(cold)})")
        print(f"ratio warm / cold         : {med(warm) / med(cold):.3f}")
        print(f"vm run REPO -- true, warm : median {med(warm_repo):.2f}s  ({all_(warm_repo)})")
        print(f"split: claim (vm create) {med(claim):.2f}s, workspace prepare {med(prepare):.2f}s, "
              f"vm exec -- true {med(execs):.2f}s")
        print(f"workspace prepare with no refill boot beside it: median {med(idle_prepare):.2f}s")
    finally:
        remove_home(BANGER, home, env)


if __name__ == "__main__":
    sys.exit(run_in_own_netns(main))
