"""Shared by the benchmarks: run the calling script in a network namespace
of its own (banger makes a bridge, TAPs and NAT rules; never in the host's
network), and kill what a throwaway banger home left running."""
import os, subprocess, sys

def run_in_own_netns(main):
    """main() when already inside; otherwise re-run this script in a fresh
    namespace, then remove it."""
    if os.environ.get("BANGER_BENCH_NETNS"):
        return main()
    ns = f"bgrbench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        env = dict(os.environ, BANGER_BENCH_NETNS=ns)
        return subprocess.run(["nsenter", f"--net=/run/netns/{ns}", "--", sys.executable, *sys.argv], env=env).returncode
    finally:
        subprocess.run(["ip", "netns", "del", ns])

def kill_processes_of(home):
    """SIGKILL every process whose command line names `home` (VMMs, helpers)."""
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    if home.encode() in f.read():
                        os.kill(int(p), 9)
            except OSError:
                pass
