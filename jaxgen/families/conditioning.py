"""What a diffusion model is conditioned on: nothing, a class id or a prompt, with its
unconditional ("null") input for classifier-free guidance (Ho & Salimans 2022): the null class
id `num_classes`, or the tokens of the empty prompt "" (BOS, EOS, then PAD).

The denoiser's third argument is `Conditioning.train_input(...)` in training and
`sample_input(...)` at sampling: class ids (B,) or prompt tokens int32 (B, L), or None.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.data.tokens import encode_text

KINDS = {"none": None, "class": "label", "text": "tokens"}   # kind -> its batch entry


@dataclasses.dataclass(frozen=True)
class Conditioning:
    """kind "none" | "class" (num_classes ids) | "text" (prompts of up to max_len tokens);
    default_prompts are cycled when a text model is sampled without prompts."""
    kind: str = "none"
    num_classes: int = 0
    max_len: int = 0
    default_prompts: tuple[str, ...] = ()

    @property
    def null(self) -> np.ndarray:
        """One example's unconditional input: () class id num_classes, or (L,) tokens of ""."""
        if self.kind == "text":
            return encode_text([""], self.max_len)[0]
        return np.asarray(self.num_classes, np.int32)

    def null_input(self, n: int):
        """The unconditional input of n examples, or None for an unconditional model."""
        return None if self.kind == "none" else np.broadcast_to(self.null, (n, *self.null.shape))

    def train_input(self, batch: dict, keys: jax.Array, p_uncond: float):
        """The batch's labels / tokens, each replaced by the null input with probability
        p_uncond (its own key: keys (B,)), or None for an unconditional model."""
        if self.kind == "none":
            return None
        cond = batch[KINDS[self.kind]]
        drop = jax.vmap(lambda k: jax.random.bernoulli(jax.random.fold_in(k, 7), p_uncond))(keys)
        return jnp.where(drop.reshape((-1,) + (1,) * (cond.ndim - 1)), self.null, cond)

    def sample_input(self, num: int, *, labels=None, prompts=None):
        """The condition of `num` samples: `labels` / `prompts` (any count >= 1) repeated to
        num, else the classes in turn / default_prompts; None for an unconditional model."""
        if prompts is not None:
            return self._prompt_tokens(num, prompts)
        if labels is not None or self.kind == "class":
            if self.kind == "text":
                raise ValueError(f"labels={list(np.ravel(labels))} given, but this model is "
                                 f"conditioned on prompts; pass prompts=['a red bag', ...]")
            labels = np.arange(num) % self.num_classes if labels is None else labels
            return check_labels(labels, num, self.num_classes)
        return self._prompt_tokens(num, self.default_prompts) if self.kind == "text" else None

    def _prompt_tokens(self, num: int, prompts) -> np.ndarray:
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if self.kind != "text":
            raise ValueError(f"prompts={prompts[:3]} given, but this model is not text-"
                             f"conditioned (it has no config.text section); sample a "
                             f"text-to-image workdir, e.g. one trained with configs/t2i_compose.py")
        if not prompts:
            raise ValueError("prompts=[] is empty; pass at least one prompt ('' is the "
                             "unconditional sample)")
        return encode_text(prompts, self.max_len)[np.arange(num) % len(prompts)]


def check_labels(labels, num: int, num_classes: int) -> np.ndarray:
    """`labels` (any length >= 1) repeated to `num`, as int32; each in [0, num_classes)."""
    labels = np.asarray(labels).reshape(-1)
    if not num_classes:
        raise ValueError(f"labels={labels.tolist()} given, but this model is unconditional "
                         f"(model.num_classes=0); sample it without labels")
    if labels.size == 0 or labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels={labels.tolist()}: each must be a class id in "
                         f"[0, {num_classes - 1}]")
    return np.resize(labels, num).astype(np.int32)
