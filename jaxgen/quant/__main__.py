"""Write an int8 checkpoint of a trained workdir:

  python -m jaxgen.quant --workdir runs/demo_v --out runs/demo_v/int8
  python sample.py --workdir runs/demo_v/int8 --num 64 --out int8.png
  python -m jaxgen.quant --workdir runs/demo_v --out runs/demo_v/int8s --calibrate 200
      static activation scales from 200 float samples, stored in the checkpoint
"""
import argparse
import json
import sys

from jaxgen.checkpoint import CheckpointError, quiet_abandoned_reads
from jaxgen.quant import store
from jaxgen.utils import xla_flags


def main(argv):
    xla_flags.configure()
    quiet_abandoned_reads()
    p = argparse.ArgumentParser(prog="python -m jaxgen.quant", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", help="a training workdir: its latest checkpoint is quantized")
    p.add_argument("--checkpoint", help="WORKDIR/checkpoints/STEP: this checkpoint")
    p.add_argument("--out", required=True, help="folder for the int8 checkpoint")
    p.add_argument("--calibrate", type=int, default=0, metavar="N",
                   help="static activation scales from N float samples (0: dynamic scales)")
    p.add_argument("--calibrate_batch", type=int, default=50, help="samples per calibration batch")
    args = p.parse_args(argv)
    try:
        report = store.write(args.workdir, args.out, checkpoint=args.checkpoint,
                             calibrate=args.calibrate, calibrate_batch=args.calibrate_batch)
    except (ValueError, FileNotFoundError, FileExistsError, CheckpointError) as e:
        sys.exit(f"python -m jaxgen.quant: error: {e}")
    print(f"wrote {args.out}: parameters {report['float32_bytes']:,} -> {report['int8_bytes']:,} "
          f"bytes ({report['ratio']}x smaller)")
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])
