"""Start N processes of one jaxgen script on this machine, joined into one JAX runtime.

  python -m jaxgen.launch --num_processes=2 [--devices_per_process=4] train.py --config=... --workdir=...

Each process gets JAXGEN_COORDINATOR=127.0.0.1:<free port>, JAXGEN_NUM_PROCESSES and
JAXGEN_PROCESS_ID (train.py passes them to `jax.distributed.initialize`); their output is
streamed here, each line prefixed with "[i] ". --devices_per_process=K gives process i the
GPUs i*K .. i*K+K-1 (CUDA_VISIBLE_DEVICES) and, on CPU, K simulated devices. If a process
fails, the others are stopped (SIGTERM, then SIGKILL) and the launcher exits with its code.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time

GRACE_S = 20.0  # after SIGTERM (a clean save needs every process), before SIGKILL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(i: int, n: int, port: int, devices_per_process: int | None) -> dict:
    env = dict(os.environ, JAXGEN_COORDINATOR=f"127.0.0.1:{port}",
               JAXGEN_NUM_PROCESSES=str(n), JAXGEN_PROCESS_ID=str(i))
    if devices_per_process:
        k = devices_per_process
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(d) for d in range(i * k, (i + 1) * k))
        flags = [f for f in env.get("XLA_FLAGS", "").split()
                 if not f.startswith("--xla_force_host_platform_device_count")]
        env["XLA_FLAGS"] = " ".join([*flags, f"--xla_force_host_platform_device_count={k}"])
    return env


def stream(i: int, proc: subprocess.Popen) -> threading.Thread:
    def pump():
        for line in proc.stdout:
            sys.stdout.write(f"[{i}] {line}")
            sys.stdout.flush()
    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


def stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM to the processes still running, SIGKILL to those left after GRACE_S."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    for p in procs:
        try:
            p.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_all(procs: list[subprocess.Popen]) -> int:
    """0 when all end cleanly; else the first failing exit code, after stopping the rest."""
    while True:
        codes = [p.poll() for p in procs]
        failed = [c for c in codes if c not in (None, 0)]
        if failed:
            stop(procs)
            return failed[0] if failed[0] > 0 else 128 - failed[0]
        if all(c == 0 for c in codes):
            return 0
        time.sleep(0.1)


def launch(script_argv: list[str], num_processes: int, devices_per_process: int | None) -> int:
    port = free_port()
    procs = [subprocess.Popen([sys.executable, "-u", *script_argv],
                              env=child_env(i, num_processes, port, devices_per_process),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(num_processes)]
    threads = [stream(i, p) for i, p in enumerate(procs)]
    forward = lambda signum, frame: [p.send_signal(signum) for p in procs if p.poll() is None]  # noqa: E731
    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = wait_all(procs)
    finally:
        stop(procs)
        for s, h in old.items():
            signal.signal(s, h)
    for t in threads:
        t.join(timeout=5)
    return code


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m jaxgen.launch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num_processes", type=int, required=True)
    p.add_argument("--devices_per_process", type=int, default=None)
    p.add_argument("script", help="the script to run, e.g. train.py")
    p.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    a = p.parse_args(argv)
    if a.num_processes < 1:
        p.error(f"--num_processes={a.num_processes} must be >= 1")
    return launch([a.script, *a.args], a.num_processes, a.devices_per_process)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
