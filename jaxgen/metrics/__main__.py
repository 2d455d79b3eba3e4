"""Sample-quality metrics between two image sets on jaxgen's Fashion-MNIST feature net.

  python -m jaxgen.metrics --real A.npz --fake B.npz [--json]
  python -m jaxgen.metrics --real real_pngs/ --fake samples/ --json

Each set is an .npz (key `images`, uint8 (N, H, W) or (N, H, W, C)) or a folder of .png /
.jpg files; other sizes and RGB are converted to grey 28x28 with a note. Prints FD, KID,
precision and recall; with --json the last line is one JSON object with the keys fd, kid,
kid_std, precision, recall, n_real, n_fake (plus classifier_score and features).
The FD is "FD (jaxgen Fashion-MNIST features)", not comparable with Inception FIDs.
"""
from __future__ import annotations

import argparse
import json
import sys

from jaxgen.metrics.compare import FD_LABEL, compare_images
from jaxgen.metrics.images import load_images


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m jaxgen.metrics", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--real", required=True, help="reference images: .npz or folder")
    p.add_argument("--fake", required=True, help="images to score: .npz or folder")
    p.add_argument("--json", action="store_true", help="end with one JSON line")
    p.add_argument("--k", type=int, default=3, help="neighbours for precision / recall")
    p.add_argument("--kid_subsets", type=int, default=100)
    p.add_argument("--kid_subset_size", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0, help="KID subset draws")
    return p.parse_args(argv)


def format_result(r: dict) -> str:
    """A few human-readable lines for a `compare_images` result."""
    return (f"{FD_LABEL}: {r['fd']:.3f}\n"
            f"KID: {r['kid']:.5f} +- {r['kid_std']:.5f}\n"
            f"precision: {r['precision']:.4f}  recall: {r['recall']:.4f}\n"
            f"classifier score (IS analogue) of fake: {r['classifier_score']:.3f}\n"
            f"n_real={r['n_real']}  n_fake={r['n_fake']}  features: {r['features']}")


def main(argv) -> dict:
    args = parse(argv)
    note = lambda msg: print(msg, file=sys.stderr)  # noqa: E731  keep stdout for results
    real = load_images(args.real, "--real", note)
    fake = load_images(args.fake, "--fake", note)
    result = compare_images(real, fake, k=args.k, num_subsets=args.kid_subsets,
                            subset_size=args.kid_subset_size, seed=args.seed)
    print(format_result(result))
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")
