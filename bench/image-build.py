#!/usr/bin/env python3
"""`image build` of the default dev box from the golden image: wall time by
step (from the build log's `== [+Ns] step` lines), the image's size
(apparent and allocated), then `vm create` -> ready of the dev box against
its base, alternating, medians of N: the ratio is what the dev box's
services (opencode above all) cost readiness. Goal: <= 1.10.

  bench/image-build.py [--runs N]

The build cache is $BANGER_TEST_CACHE/build (filled first with
`image build --download-only` outside the namespace if it is empty).
Uses ./build/bin/banger (BANGER overrides) in a throwaway home inside a
network namespace of its own; needs root, the test kernel and the golden
image (scripts/fetch-test-kernel.sh, scripts/build-golden-image.sh).
"""
from netns import remove_home, run_in_own_netns, throwaway_home
import argparse, json, os, re, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BANGER = os.environ.get("BANGER", os.path.join(ROOT, "build/bin/banger"))
CACHE = os.path.join(os.environ.get("BANGER_TEST_CACHE", "/var/tmp/banger-test-cache"), "build")

def sh(*args, env, check=True):
    r = subprocess.run(args, env=env, capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
    return r

def make_home():
    return throwaway_home(f'web_listen_addr = ""\nbuild_cache_dir = "{CACHE}"\n')

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    home, env = make_home()
    try:
        deb = subprocess.run([f"{ROOT}/scripts/fetch-test-kernel.sh"], check=True, capture_output=True, text=True).stdout.strip()
        golden = subprocess.run([f"{ROOT}/scripts/build-golden-image.sh"], check=True, capture_output=True, text=True).stdout.strip()
        sh(BANGER, "daemon", "start", env=env)
        sh(BANGER, "kernel", "import", "k", "--deb", deb, env=env)
        sh(BANGER, "image", "register", "--name", "base", "--rootfs", golden, "--kernel-ref", "k", env=env)
        t = time.monotonic()
        out = sh(BANGER, "image", "build", "--name", "devbox", "--from-image", "base", "--json", env=env).stdout
        wall = time.monotonic() - t
        image = json.loads(out.strip().splitlines()[-1])["result"]
        print(f"image build: {wall:.1f} s wall")
        steps = []
        with open(image["build"]["log"]) as f:
            for line in f:
                m = re.match(r"== \[\+([0-9.]+)s\] (.*)", line)
                if m:
                    steps.append((float(m.group(1)), m.group(2).strip()))
        steps.append((image["build"]["seconds"], "end"))
        for (at, name), (nxt, _) in zip(steps, steps[1:]):
            print(f"  {nxt - at:7.1f} s  {name}")
        st = os.stat(image["rootfs"])
        base_st = os.stat(golden)
        print(f"rootfs: {st.st_size / 2**30:.2f} GiB apparent, {st.st_blocks * 512 / 2**30:.2f} GiB allocated "
              f"(base: {base_st.st_size / 2**30:.2f} / {base_st.st_blocks * 512 / 2**30:.2f})")
        times = {"base": [], "devbox": []}
        for i in range(args.runs):
            for img in ["base", "devbox"]:
                name = f"{img}{i}"
                t = time.monotonic()
                sh(BANGER, "vm", "create", "--image", img, "--name", name, env=env)
                times[img].append(time.monotonic() - t)
                sh(BANGER, "vm", "delete", "--force", name, env=env)
        b, d = statistics.median(times["base"]), statistics.median(times["devbox"])
        print(f"vm create -> ready, medians of {args.runs}: base {b:.2f} s, devbox {d:.2f} s, ratio {d / b:.2f}")
        print("  runs: " + ", ".join(f"{x:.2f}/{y:.2f}" for x, y in zip(times["base"], times["devbox"])))
    finally:
        remove_home(BANGER, home, env)

if __name__ == "__main__":
    if not os.path.exists(os.path.join(CACHE, "npm")) and not os.environ.get("BANGER_BENCH_NETNS"):
        home, env = make_home()
        try:
            sh(BANGER, "image", "build", "--download-only", env=env)
        finally:
            remove_home(BANGER, home, env)
    sys.exit(run_in_own_netns(main))
