"""The README's sample-quality table from `sample.py --eval` outputs, printed as Markdown
and as JSON (one object per row).

  python sample.py --workdir=runs/demo --eval --eval_num=2000       # writes runs/demo/eval.json
  python benchmarks/eval_quality.py runs/demo/eval.json runs/vae/eval.json ...

CS is the classifier score (the Inception Score's analogue, 1..10). The first file's "baseline" (train vs test images, same N) is printed as the last row.
"""
import argparse
import json
from pathlib import Path

COLUMNS = ("run", "FD", "KID", "precision", "recall", "CS", "bits/dim", "N", "sampler / steps",
           "sample + eval wall time")


def _options(r: dict) -> str:
    o = r.get("sample_options", {})
    return f"{o['sampler']} / {o['steps']}" if "sampler" in o else "one forward pass"


def row(name: str, r: dict) -> dict:
    """One table row from an eval.json dict (or its "baseline")."""
    bpd = (f"{r['bits_per_dim']:.3f} ± {r['bits_per_dim_se']:.3f}" if "bits_per_dim" in r
           else "-")
    wall = f"{r['wall_s'] / 60:.1f} min ({r['sample_s'] / 60:.1f} sampling)" if "wall_s" in r else "-"
    return {"run": name, "FD": f"{r['fd']:.2f}", "KID": f"{r['kid']:.3f} ± {r['kid_std']:.3f}",
            "precision": f"{r['precision']:.3f}", "recall": f"{r['recall']:.3f}",
            "CS": f"{r['classifier_score']:.2f}",
            "bits/dim": bpd, "N": f"{r['n_fake']:,}",
            "sampler / steps": _options(r) if "wall_s" in r else "-",
            "sample + eval wall time": wall}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", help="eval.json files written by sample.py --eval")
    files = [Path(f) for f in p.parse_args().files]
    results = [json.loads(f.read_text()) for f in files]
    rows = [row(f"{r.get('workdir', f.parent)} (step {r['step']:,})", r) for f, r in zip(files, results)]
    rows.append(row("real train vs real test", results[0]["baseline"]))
    print("| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS))
    for r in rows:
        print("| " + " | ".join(r[c] for c in COLUMNS) + " |")
    for r in rows:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
