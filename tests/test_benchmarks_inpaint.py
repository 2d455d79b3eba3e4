"""The boundary error (seam) of benchmarks/inpaint_rows.py against pairs counted by hand."""
import importlib.util
import sys

import numpy as np

from conftest import ROOT


def _seam():
    sys.path.insert(0, str(ROOT))
    spec = importlib.util.spec_from_file_location("inpaint_rows",
                                                  ROOT / "benchmarks" / "inpaint_rows.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.seam


def test_seam_counts_filled_kept_neighbour_pairs():
    seam = _seam()
    image = np.array([[0, 255, 51], [255, 255, 51], [0, 0, 0]], np.uint8)[None, :, :, None]
    fill = np.zeros((1, 3, 3, 1), bool)
    fill[0, 0, 0] = fill[0, 1, 1] = True
    # pairs (filled, kept): (0,0)-(0,1) 1, (0,0)-(1,0) 1, (1,1)-(0,1) 0, (1,1)-(1,0) 0,
    # (1,1)-(1,2) 0.8, (1,1)-(2,1) 1
    assert np.isclose(seam(image, fill), (1 + 1 + 0 + 0 + 0.8 + 1) / 6)
    flat = np.full((2, 4, 4, 3), 7, np.uint8)
    assert seam(flat, np.pad(fill, ((0, 1), (0, 1), (0, 1), (0, 0)))) == 0.0
