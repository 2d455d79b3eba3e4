"""Start-up time of train.py and sample.py, cold (empty compile cache) and warm, as JSON.

  python benchmarks/start_time.py [--config configs/ddpm_fmnist.py:demo] [--repeats 1]

train: `train.py` for one step in a fresh workdir, timed from the process's start to its
first step's log line (Python and JAX start-up, data, init, compile, one step); sample:
`sample.py --num 16` from that workdir, the whole process. Cold runs use an empty
compilation cache folder, warm runs the folder the cold run filled. Medians over repeats.
Each `*_s` has a `*_cpu_s`: the CPU seconds (user + system, all threads) the process had used
by then, which other jobs sharing the machine inflate much less than the wall time.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args, cache: Path, until: str | None = None) -> tuple[float, float]:
    """(wall, CPU) seconds from starting `python args...` to the first stdout line starting
    with `until` (None: to its exit). The process always runs to its end."""
    env = dict(os.environ, JAXGEN_COMPILE_CACHE=str(cache), PYTHONPATH=str(ROOT),
               PYTHONUNBUFFERED="1")
    t0, cpu0 = time.perf_counter(), children_cpu()
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    seen = None
    for line in proc.stdout:
        if seen is None and until is not None and line.startswith(until):
            seen = time.perf_counter() - t0, cpu_seconds(proc.pid)
    if proc.wait() != 0:
        raise RuntimeError(f"{args} exited {proc.returncode}")
    return seen if until is not None else (time.perf_counter() - t0, children_cpu() - cpu0)


def one_round(config: str, tmp: Path) -> dict:
    """Cold then warm, for train then sample; each cold run gets its own empty cache."""
    out = {}
    for kind in ("cold", "warm"):
        work = tmp / f"work_{kind}"
        cache = tmp / "cache_train"
        out[f"train_{kind}_s"], out[f"train_{kind}_cpu_s"] = timed(
            ["train.py", f"--config={config}", f"--workdir={work}", "--config.train.steps=1",
             "--config.train.checkpoint_every=1", "--config.train.sample_every=0",
             "--config.eval.every=0", "--config.train.log_every=1"], cache, until="step 1 ")
    for kind in ("cold", "warm"):
        out[f"sample_{kind}_s"], out[f"sample_{kind}_cpu_s"] = timed(
            ["sample.py", f"--workdir={tmp / 'work_cold'}", "--num=16",
             f"--out={tmp / 'grid.png'}"], tmp / "cache_sample")
    return out


def main(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/ddpm_fmnist.py:demo")
    p.add_argument("--repeats", type=int, default=1)
    args = p.parse_args(argv)
    load_start = os.getloadavg()[0]
    rounds = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            rounds.append(one_round(args.config, Path(tmp)))
    medians = {k: round(statistics.median(r[k] for r in rounds), 2) for k in rounds[0]}
    print(json.dumps(dict(benchmark="start_time", config=args.config, repeats=args.repeats,
                          cpus=os.cpu_count(), load_avg_start=round(load_start, 2),
                          load_avg_end=round(os.getloadavg()[0], 2), **medians), indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
