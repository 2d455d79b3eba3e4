"""The template grammar of the `fashion_compose` captions: specs -> prompts -> specs.

A `Spec` is what a prompt asserts about its canvas, in one canonical form:
  single    one object                       "a red sneaker"
  position  one object in a named cell       "a blue bag in the top left"
  count     2-4 identical (class, colour)    "three yellow bags"
  pair      two objects, distinct class and colour, in opposite halves
            "a red bag on the left and a green sandal on the right"
Each meaning has several phrasings (TEMPLATES); `parse_prompt` inverts every one of them,
so a prompt-alignment checker can recover the spec from the text alone.
"""
from __future__ import annotations

import dataclasses
import functools
import re

CLASSES = ("trouser", "dress", "sandal", "sneaker", "bag", "ankle boot")
PLURALS = ("trousers", "dresses", "sandals", "sneakers", "bags", "ankle boots")
FMNIST_IDS = (1, 3, 5, 7, 8, 9)  # Fashion-MNIST label of each of CLASSES
COLOURS = ("red", "green", "blue", "yellow", "white", "purple")
CELLS = ("top left", "top right", "bottom left", "bottom right")  # cell k: row k // 2, col k % 2
REGIONS = ("left", "right", "top", "bottom")                       # halves, for pairs
NUMBERS = {2: "two", 3: "three", 4: "four"}
KINDS = ("single", "position", "count", "pair")


@dataclasses.dataclass(frozen=True)
class Obj:
    """One described object: class name, colour name, and where the prompt puts it (a
    CELLS or REGIONS name), or None when the prompt leaves its place open."""
    cls: str
    colour: str
    where: str | None = None


@dataclasses.dataclass(frozen=True)
class Spec:
    """kind in KINDS; objects: 1 (single, position), n identical (count), or 2 (pair,
    ordered left before right / top before bottom)."""
    kind: str
    objects: tuple[Obj, ...]


# Fields: {c1} colour, {x1} class, {p1} cell, {n} number word, {xs} plural class; in pairs
# {r1} / {r2} any opposite halves, {lr} left or right, {above} "above" or "below" (of the
# first-named object relative to the second).
TEMPLATES = {
    "single": ("a {c1} {x1}", "one {c1} {x1}", "a single {c1} {x1}", "a picture of a {c1} {x1}"),
    "position": ("a {c1} {x1} in the {p1}", "a {c1} {x1} at the {p1}", "in the {p1}, a {c1} {x1}"),
    "count": ("{n} {c1} {xs}", "exactly {n} {c1} {xs}", "a set of {n} {c1} {xs}"),
    "pair": ("a {c1} {x1} on the {r1} and a {c2} {x2} on the {r2}",
             "a {c1} {x1} to the {lr} of a {c2} {x2}",
             "a {c1} {x1} {above} a {c2} {x2}"),
}
_OPPOSITE = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}
_ABOVE = {"top": "above", "bottom": "below"}


def make_prompt(spec: Spec, phrasing: int, first: int = 0) -> str:
    """The prompt for `spec` in template number `phrasing` of its kind. For a pair, `first`
    (0 or 1) picks which object the sentence names first; "to the left of" and "above"
    need a horizontal or vertical pair, so the phrasing is taken modulo what fits."""
    templates = TEMPLATES[spec.kind]
    a = spec.objects[0]
    if spec.kind != "pair":
        return templates[phrasing % len(templates)].format(
            c1=a.colour, x1=a.cls, p1=a.where, n=NUMBERS.get(len(spec.objects)),
            xs=PLURALS[CLASSES.index(a.cls)])
    a, b = spec.objects[first], spec.objects[1 - first]
    fits = templates[:2] if a.where in ("left", "right") else templates[::2]
    return fits[phrasing % len(fits)].format(c1=a.colour, x1=a.cls, r1=a.where, lr=a.where,
                                             c2=b.colour, x2=b.cls, r2=b.where,
                                             above=_ABOVE.get(a.where))


def _alt(words) -> str:
    return "(" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")"


@functools.lru_cache(maxsize=1)
def _patterns() -> list[tuple[str, re.Pattern]]:
    """One full-match regex per template, with named groups for its fields."""
    fields = dict(c1=_alt(COLOURS), c2=_alt(COLOURS), x1=_alt(CLASSES), x2=_alt(CLASSES),
                  xs=_alt(PLURALS), p1=_alt(CELLS), n=_alt(NUMBERS.values()),
                  r1=_alt(REGIONS), r2=_alt(REGIONS), lr="(left|right)", above="(above|below)")
    out = []
    for kind, templates in TEMPLATES.items():
        for template in templates:
            regex = re.escape(template)
            for name, alt in fields.items():
                regex = regex.replace(re.escape("{" + name + "}"), f"(?P<{name}>{alt[1:]}")
            out.append((kind, re.compile(regex)))
    return out


def _pair(m: dict) -> Spec:
    r1 = m.get("r1") or m.get("lr") or ("top" if m["above"] == "above" else "bottom")
    r2 = m.get("r2") or _OPPOSITE[r1]
    if _OPPOSITE[r1] != r2:
        raise ValueError(f"pair regions {r1!r} and {r2!r} are not opposite halves")
    a, b = Obj(m["x1"], m["c1"], r1), Obj(m["x2"], m["c2"], r2)
    return Spec("pair", (a, b) if r1 in ("left", "top") else (b, a))


def _spec(kind: str, m: dict) -> Spec:
    if kind == "pair":
        return _pair(m)
    if kind == "count":
        n = {w: k for k, w in NUMBERS.items()}[m["n"]]
        return Spec("count", (Obj(CLASSES[PLURALS.index(m["xs"])], m["c1"]),) * n)
    return Spec(kind, (Obj(m["x1"], m["c1"], m.get("p1")),))


def parse_prompt(text: str) -> Spec:
    """The Spec a prompt of the template grammar asserts (the inverse of `make_prompt`).
    Whitespace and case are normalised; text outside the grammar is a ValueError."""
    norm = " ".join(text.lower().split())
    for kind, pattern in _patterns():
        m = pattern.fullmatch(norm)
        if m:
            return _spec(kind, m.groupdict())
    raise ValueError(f"prompt {text!r} is not in the fashion_compose template grammar; "
                     f"see jaxgen.data.prompts.TEMPLATES for the accepted phrasings")


def max_prompt_bytes() -> int:
    """An upper bound on the UTF-8 length of any prompt of the grammar (each field at its
    longest word; the longest real prompt is 65 bytes)."""
    longest = lambda words: max(map(len, words))  # noqa: E731
    fill = dict(c1=longest(COLOURS), c2=longest(COLOURS), x1=longest(CLASSES),
                x2=longest(CLASSES), xs=longest(PLURALS), p1=longest(CELLS),
                n=longest(NUMBERS.values()), r1=longest(REGIONS), r2=longest(REGIONS), lr=5, above=5)
    sizes = [len(re.sub(r"\{(\w+)\}", lambda g: "x" * fill[g.group(1)], t))
             for templates in TEMPLATES.values() for t in templates]
    return max(sizes)
