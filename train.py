"""Train a jaxgen model.

  python train.py --config=configs/ddpm_fmnist.py:demo --workdir=runs/demo [--config.train.steps=500]
  python -m jaxgen.launch --num_processes=2 train.py --config=...   # N processes, one mesh

Running again on the same workdir resumes from its latest checkpoint; without
--config the workdir's saved config.json is used. This file is kept short on
purpose: everything lives in `jaxgen.train`.
"""
import argparse
import sys

from jaxgen import config as config_lib
from jaxgen import parallel
from jaxgen.utils import compile_cache, xla_flags
from jaxgen.train import run
from jaxgen.checkpoint import CheckpointError, StateMismatchError, quiet_abandoned_reads
from jaxgen.train.loop import SetupError, WorkdirError


def parse(argv):
    rest, overrides = config_lib.split_overrides(argv)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="configs/FILE.py[:VARIANT]; default: WORKDIR/config.json")
    p.add_argument("--workdir", required=True, help="checkpoints, metrics.jsonl, samples/ go here")
    p.add_argument("--stop_after", type=int, default=None,
                   help="save and stop once this step is reached (the schedule still uses train.steps)")
    p.add_argument("--coordinator", help="multi-process: HOST:PORT of process 0, or 'auto' (TPU "
                   "pod slices, SLURM); default $JAXGEN_COORDINATOR (set by jaxgen.launch)")
    p.add_argument("--num_processes", type=int, help="default $JAXGEN_NUM_PROCESSES")
    p.add_argument("--process_id", type=int, help="default $JAXGEN_PROCESS_ID")
    return p.parse_args(rest), overrides


def main(argv):
    xla_flags.configure()
    quiet_abandoned_reads()
    compile_cache.enable()
    args, overrides = parse(argv)
    parallel.initialize(args.coordinator, args.num_processes, args.process_id)
    try:
        config = (config_lib.load_config(args.config) if args.config
                  else config_lib.load_workdir_config(args.workdir))
        config_lib.validate(config_lib.apply_overrides(config, overrides))
    except (KeyError, ValueError, FileNotFoundError) as e:  # bad flags: message, no traceback
        sys.exit(f"train.py: error: {e.args[0] if e.args else e}")
    try:
        run(config, args.workdir, stop_after=args.stop_after)
    except (CheckpointError, StateMismatchError, WorkdirError, SetupError) as e:  # nothing lost
        sys.exit(f"train.py: error: {e}")


if __name__ == "__main__":
    main(sys.argv[1:])
