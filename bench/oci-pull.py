#!/usr/bin/env python3
"""`banger image pull` against skopeo + umoci + mkfs.ext4, side by side.

The golden Debian image (scripts/build-test-oci-image.sh: one gzip layer,
~115 MB compressed, ~400 MB unpacked) is pushed to Debian's docker-registry
on 127.0.0.1, then pulled into an ext4 image N times each way, alternating:

- banger: `banger image pull` with an empty blob cache (every byte
  downloaded): layers streamed into the cache and, in the same pass, into
  the staging tree; guest parts; mkfs.ext4 -d for the rootfs and the
  work-seed; e2fsck -fn of both; registration.
- banger, warm: the same pull again with the blob cache kept (a re-pull).
- baseline: `skopeo copy docker://... oci:DIR` + `umoci unpack` +
  `mkfs.ext4 -d` of the unpacked rootfs at the size banger chose.

  bench/oci-pull.py [--runs N]

Each step starts after a sync (nothing of the previous step left to write
back), in a rotating order. Medians; the ratio is baseline time / banger
time (above 1.0 banger is faster). Needs root, the test kernel (scripts/fetch-test-kernel.sh), and the
packages of scripts/install-deps.sh.
"""
import argparse, json, os, shutil, socket, statistics, subprocess, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BANGER = os.environ.get("BANGER", os.path.join(ROOT, "build/bin/banger"))

def sh(*args, env=None, **kw):
    return subprocess.run(args, env=env, check=True, capture_output=True, text=True, **kw)

def timed(fn):
    t = time.monotonic()
    fn()
    return time.monotonic() - t

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bgrbenchoci", dir="/var/tmp")
    home = f"{work}/home"
    env = dict(os.environ, XDG_CONFIG_HOME=f"{home}/config", XDG_DATA_HOME=f"{home}/data",
               XDG_STATE_HOME=f"{home}/state", XDG_RUNTIME_DIR=f"{home}/run", HOME=f"{home}/home")
    os.makedirs(f"{home}/config/banger")
    os.makedirs(f"{home}/home")
    os.makedirs(f"{home}/run", mode=0o700)
    with open(f"{home}/config/banger/config.toml", "w") as f:
        f.write("web_listen_addr = \"\"\n")
    port = free_port()
    with open(f"{work}/registry.yml", "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {work}/registry\nhttp:\n  addr: 127.0.0.1:{port}\n")
    registry = subprocess.Popen(["docker-registry", "serve", f"{work}/registry.yml"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        layout = sh(f"{ROOT}/scripts/build-test-oci-image.sh").stdout.strip()
        ref = f"127.0.0.1:{port}/bench/debian:bookworm"
        sh("skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}", f"docker://{ref}")
        deb = sh(f"{ROOT}/scripts/fetch-test-kernel.sh").stdout.strip()
        sh(BANGER, "kernel", "import", "k", "--deb", deb, env=env)
        cache = f"{home}/data/banger/cache/blobs"
        size = {}

        def banger(name, cold):
            if cold:
                shutil.rmtree(cache, ignore_errors=True)
            out = json.loads(sh(BANGER, "image", "pull", ref, "--kernel-ref", "k", "--name", name, "--json", env=env).stdout)
            size["bytes"] = out["rootfs_bytes"]

        def delete(name):
            sh(BANGER, "image", "delete", name, env=env)

        def baseline():
            d = f"{work}/base"
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            sh("skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{ref}", f"oci:{d}/layout:bookworm")
            sh("umoci", "unpack", "--image", f"{d}/layout:bookworm", f"{d}/bundle")
            sh("mkfs.ext4", "-q", "-F", "-d", f"{d}/bundle/rootfs", f"{d}/rootfs.ext4", f"{size['bytes'] // 1048576}M")

        banger("warmup", True)  # page cache, and the rootfs size for the baseline
        delete("warmup")
        times = {"banger": [], "banger warm": [], "baseline": []}
        for i in range(args.runs):
            steps = [("banger", lambda: banger(f"cold{i}", True)),
                     ("banger warm", lambda: banger(f"warm{i}", False)),
                     ("baseline", baseline)]
            # Each step starts with nothing left to write back, in a rotating
            # order, so none pays for the one before it.
            for k, fn in steps[i % 3:] + steps[:i % 3]:
                if k == "banger warm" and not os.path.isdir(cache):
                    banger(f"fill{i}", True)
                    delete(f"fill{i}")
                os.sync()
                times[k].append(timed(fn))
            delete(f"cold{i}")
            delete(f"warm{i}")
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"image: {ref} ({size['bytes'] >> 20} MiB rootfs), {args.runs} runs, medians")
        for k, v in times.items():
            ratio = med["baseline"] / med[k]
            print(f"{k:12} {med[k]:7.2f} s   baseline/this {ratio:5.2f}   runs: {', '.join(f'{t:.2f}' for t in v)}")
    finally:
        subprocess.run([BANGER, "daemon", "stop"], env=env, capture_output=True)
        registry.kill()
        registry.wait()
        shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__":
    main()
