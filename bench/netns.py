"""Shared by the benchmarks: run the calling script in a network namespace
of its own (banger makes a bridge, TAPs and NAT rules; never in the host's
network), and kill what a throwaway banger home left running."""
import os, shutil, subprocess, sys, tempfile

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


def remove_home(banger, home, env):
    """Stops the home's daemon, kills what it left running, removes it."""
    subprocess.run([banger, "daemon", "stop"], env=env, capture_output=True)
    kill_processes_of(home)
    shutil.rmtree(home, ignore_errors=True)


def throwaway_home(config):
    """A banger home in a new temporary directory with `config` as its
    config.toml; returns (home, env) for running banger in it."""
    home = tempfile.mkdtemp(prefix="bgrbench")
    env = dict(os.environ, HOME=f"{home}/home", XDG_CONFIG_HOME=f"{home}/config", XDG_DATA_HOME=f"{home}/data",
               XDG_STATE_HOME=f"{home}/state", XDG_RUNTIME_DIR=f"{home}/run")
    for d in ["home", "config/banger", "run"]:
        os.makedirs(f"{home}/{d}", exist_ok=True)
    os.chmod(f"{home}/run", 0o700)
    with open(f"{home}/config/banger/config.toml", "w") as f:
        f.write(config)
    return home, env
