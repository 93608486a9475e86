#!/usr/bin/env python3
"""vm create -> ready, against the bare VMM doing the same boot.

banger: `banger vm create` wall time (clone, inject, spawn, boot, agent
answers). Bare: the very command lines banger ran for that VM (read from
/proc), started directly on pristine disks prepared the same way (a
`vm create --no-start`, untimed), timed from spawn to the agent's first
pong. Both first-boot the same kernel, initrd and rootfs to the same
readiness (agent answers; for the golden image also sshd listening, as
banger requires), so the ratio is what banger adds. Runs alternate; medians of N.

  bench/vm-create.py [--runs N] [--image busybox|golden]

Uses ./build/bin/banger (BANGER overrides) in a throwaway home, inside a
network namespace of its own (banger makes a bridge, TAPs and NAT rules;
never in the host's network); needs root, the test kernel
(scripts/fetch-test-kernel.sh) and, for --image golden,
scripts/build-golden-image.sh.
"""
from netns import remove_home, run_in_own_netns, throwaway_home
import argparse, json, os, shutil, socket, statistics, struct, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BANGER = os.environ.get("BANGER", os.path.join(ROOT, "build/bin/banger"))

def sh(*args, env, check=True):
    r = subprocess.run(args, env=env, capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
    return r

def busybox_image(dirpath):
    tree = os.path.join(dirpath, "tree")
    for d in ["bin", "sbin", "dev", "proc", "sys", "tmp", "root", "etc"]:
        os.makedirs(os.path.join(tree, d), exist_ok=True)
    shutil.copy("/bin/busybox", os.path.join(tree, "bin/busybox"))
    init = os.path.join(tree, "sbin/init")
    with open(init, "w") as f:
        f.write("#!/bin/busybox sh\n/bin/busybox mount -t proc proc /proc\n/bin/busybox --install -s /bin\n"
                "mount -a\n/usr/local/lib/banger/banger-vsock-agent serve &\nexec sleep 1000000\n")
    os.chmod(init, 0o755)
    img = os.path.join(dirpath, "busybox.ext4")
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", tree, img, "256M"], check=True, capture_output=True)
    return img

def agent_call(vsock, request):
    """One request to the agent over the hybrid vsock socket; None if it fails."""
    s = socket.socket(socket.AF_UNIX)
    try:
        s.settimeout(5)
        s.connect(vsock)
        s.sendall(b"CONNECT 1024\n")  # one write: see crates/bangerd/src/agent/client.rs
        if not s.recv(64).startswith(b"OK "):
            return None
        body = json.dumps(request).encode()
        s.sendall(struct.pack(">IB", len(body), 0) + body)
        data = b""
        while len(data) < 5 or len(data) < 5 + struct.unpack(">I", data[:4])[0]:
            chunk = s.recv(65536)
            if not chunk:
                return None
            data += chunk
        return json.loads(data[5:5 + struct.unpack(">I", data[:4])[0]])
    except (OSError, ValueError):
        return None
    finally:
        s.close()

def ping(vsock):
    reply = agent_call(vsock, {"type": "ping"})
    return bool(reply) and reply.get("type") == "pong"

def sshd_greets(ip):
    """What banger waits for: sshd accepting on the guest's address and greeting."""
    try:
        with socket.create_connection((ip, 22), timeout=3) as s:
            return s.recv(4) == b"SSH-"
    except OSError:
        return False

def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return [a.decode() for a in f.read().split(b"\0") if a]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--image", choices=["busybox", "golden"], default="busybox")
    args = ap.parse_args()
    home, env = throwaway_home('web_listen_addr = ""\n')
    try:
        deb = subprocess.run([f"{ROOT}/scripts/fetch-test-kernel.sh"], check=True, capture_output=True, text=True).stdout.strip()
        sh(BANGER, "daemon", "start", env=env)
        sh(BANGER, "kernel", "import", "k", "--deb", deb, env=env)
        rootfs = busybox_image(home) if args.image == "busybox" else subprocess.run(
            [f"{ROOT}/scripts/build-golden-image.sh"], check=True, capture_output=True, text=True).stdout.strip()
        sh(BANGER, "image", "register", "--name", "img", "--rootfs", rootfs, "--kernel-ref", "k", env=env)
        banger_times, bare_times = [], []
        for i in range(args.runs):
            name = f"b{i}"
            t = time.monotonic()
            sh(BANGER, "vm", "create", "--image", "img", "--name", name, env=env)
            banger_times.append(time.monotonic() - t)
            vm = json.loads(sh(BANGER, "vm", "show", name, "--json", env=env).stdout)
            qemu = cmdline(vm["vmm_pid"])
            helper = next(cmdline(int(p)) for p in os.listdir("/proc") if p.isdigit() and _is_helper(p, vm["dir"]))
            sh(BANGER, "vm", "delete", name, "--force", env=env)
            # The bare VMM: the same command lines, on pristine disks made
            # the same way (untimed), in that VM's directory.
            fresh = json.loads(sh(BANGER, "vm", "create", "--image", "img", "--name", f"n{i}", "--no-start", "--json", env=env).stdout)
            moved = lambda argv: [a.replace(vm["dir"], fresh["dir"]) for a in argv]
            qemu, helper = moved(qemu), moved(helper)
            vsock = os.path.join(fresh["dir"], "vm.vsock")
            t = time.monotonic()
            h = subprocess.Popen(helper, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while not os.path.exists(os.path.join(fresh["dir"], "vhost.sock")):
                time.sleep(0.01)
            q = subprocess.Popen(qemu, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # The same readiness banger waits for: the agent, and sshd where installed.
            while not ping(vsock):
                time.sleep(0.05)
            while args.image == "golden" and not sshd_greets(fresh["ip"]):
                time.sleep(0.05)
            bare_times.append(time.monotonic() - t)
            q.kill(); h.kill(); q.wait(); h.wait()
            sh(BANGER, "vm", "delete", f"n{i}", "--force", env=env)
        b, r = statistics.median(banger_times), statistics.median(bare_times)
        # Boot times under TCG vary by a second from run to run; the ratio of
        # each pair (run side by side) and the fastest runs are steadier.
        pairs = statistics.median(x / y for x, y in zip(banger_times, bare_times))
        print(f"image: {args.image}, runs: {args.runs}")
        print(f"banger vm create -> ready : median {b:.2f}s  (all: {', '.join(f'{x:.2f}' for x in banger_times)})")
        print(f"bare VMM spawn -> agent   : median {r:.2f}s  (all: {', '.join(f'{x:.2f}' for x in bare_times)})")
        print(f"ratio banger / bare: {b / r:.3f} (banger adds {100 * (b / r - 1):.1f}%)")
        print(f"median of the per-run ratios: {pairs:.3f}; fastest: banger {min(banger_times):.2f}s, bare {min(bare_times):.2f}s")
    finally:
        remove_home(BANGER, home, env)

def _is_helper(pid, vm_dir):
    try:
        c = cmdline(pid)
    except OSError:
        return False
    return bool(c) and c[0].endswith("vhost-device-vsock") and any(vm_dir in a for a in c)

if __name__ == "__main__":
    sys.exit(run_in_own_netns(main))
