"""The prompt-alignment checker: its shipped cell classifier, its ceiling on real canvases,
and failures on canvases built wrong on purpose (colour, class, empty cell, count, place)."""
import json

import numpy as np
import pytest

from jaxgen.data.compose import get_composer, load_compose, tint
from jaxgen.data.prompts import CLASSES, COLOURS, parse_prompt
from jaxgen.metrics import cell_classifier, prompts as checker


@pytest.fixture(scope="module")
def items():
    """Per class: 8 test-split items the classifier names right in every colour."""
    out = []
    for x, pool in enumerate(get_composer(None, "test").items):
        cells = np.rint(tint(np.repeat(pool[:40], 6, 0), np.tile(np.arange(6), 40))).astype(np.uint8)
        right = (cell_classifier.classify(cells).argmax(1) == x).reshape(40, 6).all(1)
        out.append(pool[:40][right][:8])
    return out


def canvas(items, cells) -> np.ndarray:
    """uint8 (32, 32, 3) with {cell k: (class name, colour name)} drawn, item k of its class."""
    out = np.zeros((2, 2, 16, 16, 3), np.float32)
    for k, (cls, colour) in cells.items():
        out[k // 2, k % 2] = tint(items[CLASSES.index(cls)][k], COLOURS.index(colour))
    return np.rint(out.transpose(0, 2, 1, 3, 4).reshape(32, 32, 3)).astype(np.uint8)


def test_shipped_weights_match_their_checksum_and_tampering_is_refused(tmp_path):
    params = cell_classifier.read_weights()
    assert cell_classifier.WEIGHTS_FILE.stat().st_size < 200_000
    assert cell_classifier.write_weights(tmp_path / "w.npz", params) == cell_classifier.WEIGHTS_SHA256
    raw = bytearray(cell_classifier.WEIGHTS_FILE.read_bytes())
    raw[-100] ^= 1
    (tmp_path / "bad.npz").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="SHA-256 is .* expected " + cell_classifier.WEIGHTS_SHA256):
        cell_classifier.read_weights(tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError, match="train_cell_classifier"):
        cell_classifier.read_weights(tmp_path / "missing.npz")


def test_real_canvases_pass_their_own_prompts_at_about_the_ceiling():
    prompts, canvases = checker.real_examples(load_compose(None, "test"), 240)
    scores = checker.score(prompts, canvases)
    assert scores["constraints"]["occupancy"] == 1.0 and scores["colour"] == 1.0
    assert scores["overall"] > 0.9 and scores["two_objects"] > 0.85, scores
    assert sum(scores[f"n_{c}"] for c in ("single", "position", "count", "two_objects")) == 240
    # another canvas's prompts mostly fail: the score measures the canvas, not the prompt
    assert checker.score(prompts[1:] + prompts[:1], canvases)["overall"] < 0.3


@pytest.mark.parametrize("prompt,cells,failed", [
    ("a red sneaker", {2: ("sneaker", "red")}, None),
    ("a red sneaker", {2: ("sneaker", "blue")}, "colour"),
    ("a red sneaker", {2: ("bag", "red")}, "class"),
    ("a red sneaker", {}, "occupancy colour class"),            # absent: nothing to check
    ("a green bag in the top right", {1: ("bag", "green")}, None),
    ("a green bag in the top right", {0: ("bag", "green")}, "occupancy colour class"),
    ("three white dresses", {k: ("dress", "white") for k in (0, 1, 3)}, None),
    ("three white dresses", {k: ("dress", "white") for k in (0, 3)}, "occupancy"),
    ("three white dresses", {k: ("dress", "white") for k in range(4)}, "occupancy"),
    ("three white dresses", {0: ("dress", "white"), 1: ("dress", "white"),
                             3: ("sandal", "white")}, "class"),
    ("a red bag on the left and a blue sandal on the right",
     {2: ("bag", "red"), 1: ("sandal", "blue")}, None),
    ("a blue sandal to the right of a red bag", {0: ("bag", "red"), 2: ("sandal", "blue")},
     "occupancy colour class"),                       # both on the left: none on the right
    ("a red bag above a blue sandal", {0: ("bag", "blue"), 3: ("sandal", "red")}, "colour"),
    ("a red bag above a blue sandal", {1: ("trouser", "red"), 2: ("sandal", "blue")}, "class"),
])
def test_constructed_canvases_fail_exactly_the_broken_constraint(items, prompt, cells, failed):
    r = checker.read(canvas(items, cells)[None])
    got = checker.check(parse_prompt(prompt), r.occupied[0], r.colour[0], r.cls[0])
    broken = (failed or "").split()
    assert got == {k: k not in broken for k in ("occupancy", "colour", "class")}, (prompt, got)


def test_bad_input_names_the_fix():
    with pytest.raises(ValueError, match="to_uint8"):
        checker.score(["a red bag"], np.zeros((1, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="one prompt per canvas"):
        checker.score(["a red bag"] * 2, np.zeros((1, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="template grammar"):
        checker.score(["a red hat"], np.zeros((1, 32, 32, 3), np.uint8))


def test_cli_ends_with_one_json_line_of_categories(capsys):
    checker.main(["--num", "24", "--json"])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert list(last) == list(checker.CATEGORIES)
    assert all(0.0 <= v <= 1.0 for v in last.values() if v == v)   # NaN: a category with none
