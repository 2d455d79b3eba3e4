"""Byte-level tokens: any Unicode text -> its UTF-8 bytes (ids 0..255) plus 4 special ids.

    encode_text(["a red bag"], 16) -> int32 (1, 16): [BOS, 97, 32, 114, ..., EOS, PAD, PAD, ...]

No vocabulary file, no unknown token: every string encodes, and `decode_text` inverts it.
Pure numpy, so the data pipeline can tokenise captions without importing the model.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

NUM_BYTES = 256
PAD, BOS, EOS, MASK = 256, 257, 258, 259
VOCAB_SIZE = 260


def _token_ids(text: str, max_len: int, truncate: bool) -> np.ndarray:
    """One text -> int32 (n,) = [BOS, bytes..., EOS], n <= max_len."""
    data = text.encode("utf-8")
    if len(data) + 2 > max_len:
        if not truncate:
            raise ValueError(f"text of {len(data)} UTF-8 bytes needs {len(data) + 2} tokens "
                             f"(bos + bytes + eos) but max_len={max_len}; raise max_len or pass "
                             f"truncate=True: {text[:40]!r}...")
        data = data[:max_len - 2]  # may cut a multi-byte character; decode_text replaces it
    body = np.frombuffer(data, np.uint8).astype(np.int32)
    return np.concatenate([[BOS], body, [EOS]]).astype(np.int32)


def encode_text(texts: Sequence[str], max_len: int, *, truncate: bool = False) -> np.ndarray:
    """Texts -> int32 (B, max_len): BOS, the UTF-8 bytes, EOS, then PAD.

    A text longer than max_len - 2 bytes is a ValueError naming both lengths, unless
    `truncate`, which keeps the first max_len - 2 bytes (EOS stays last).
    """
    if isinstance(texts, str):
        raise TypeError(f"encode_text takes a sequence of texts; wrap the one text: [{texts[:40]!r}]")
    if max_len < 2:
        raise ValueError(f"max_len={max_len} leaves no room for bos and eos; use max_len >= 2")
    out = np.full((len(texts), max_len), PAD, np.int32)
    for i, text in enumerate(texts):
        ids = _token_ids(text, max_len, truncate)
        out[i, :len(ids)] = ids
    return out


def decode_text(tokens) -> list[str]:
    """int (B, L) tokens -> texts: the byte ids between BOS and the first EOS (or the end),
    decoded as UTF-8 (invalid sequences, e.g. from truncation or MASK, become U+FFFD)."""
    texts = []
    for row in np.asarray(tokens):
        row = row[1:] if len(row) and row[0] == BOS else row
        stop = np.flatnonzero(row == EOS)
        row = row[:stop[0]] if len(stop) else row
        data = bytes(int(t) if t < NUM_BYTES else 0xFF for t in row if t != PAD)
        texts.append(data.decode("utf-8", errors="replace"))
    return texts
