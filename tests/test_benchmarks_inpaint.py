"""The boundary error (seam) of benchmarks/inpaint_rows.py against pairs counted by hand."""
import sys

import numpy as np

from conftest import ROOT, load_script


def _seam():
    sys.path.insert(0, str(ROOT))
    return load_script("benchmarks/inpaint_rows.py").seam


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
