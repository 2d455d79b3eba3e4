"""The prompt rewrite of benchmarks/t2i_edit.py: every colour word moves to the next palette
colour, nothing else changes, and the checker's parser reads the new colours."""
from conftest import load_script
from jaxgen.data.prompts import COLOURS, parse_prompt


def _recolour():
    return load_script("benchmarks/t2i_edit.py").recolour


def test_recolour_moves_each_colour_word_to_the_next():
    recolour = _recolour()
    prompt = "a purple dress on the right and a yellow sandal on the left"
    new = recolour(prompt)
    assert new == "a red dress on the right and a white sandal on the left"
    old_objs, new_objs = parse_prompt(prompt).objects, parse_prompt(new).objects
    for a, b in zip(old_objs, new_objs):
        assert COLOURS.index(b.colour) == (COLOURS.index(a.colour) + 1) % len(COLOURS)
        assert (a.cls, a.where) == (b.cls, b.where)


def test_recolour_leaves_other_words_alone():
    recolour = _recolour()
    assert recolour("a redundant bag") == "a redundant bag"
    assert recolour("four white ankle boots") == "four purple ankle boots"
