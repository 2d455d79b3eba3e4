"""What a diffusion model is conditioned on: nothing, a class id, a prompt or a low-resolution
image or a masked image, with its unconditional ("null") input for classifier-free guidance
(Ho & Salimans 2022): the null class id `num_classes`, or the tokens of the empty prompt ""
(BOS, EOS, then PAD). Image conditioning (super-resolution, SR3; mask-conditioned inpainting)
has no guidance; its null input is a zero image.

The denoiser's third argument is `Conditioning.train_input(...)` in training and
`sample_input(...)` at sampling: class ids (B,), prompt tokens int32 (B, L), the upsampled
low-resolution image float32 (B, H, W, C) (`jaxgen.diffusion.sr`), the masked image and its
mask float32 (B, H, W, C + 1) (`jaxgen.diffusion.inpaint_cond`), or None.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.data.tokens import encode_text
from jaxgen.diffusion.inpaint_cond import train_condition
from jaxgen.diffusion.sr import downsample, lr_condition, upsample

KINDS = {"none": None, "class": "label", "text": "tokens", "image": "image"}  # -> batch entry
IMAGE_TASKS = ("super_resolve", "inpaint")


@dataclasses.dataclass(frozen=True)
class Conditioning:
    """kind "none" | "class" (num_classes ids) | "text" (prompts of up to max_len tokens) |
    "image", of image_task "super_resolve" (the image downsampled `factor` times, upsampled
    back; in training plus Gaussian noise of a std drawn per example from U[0, noise_aug]) or
    "inpaint" (the masked image and the mask, C + 1 channels; in training a mask per example
    from the mixture `mask_probs`, the hole set to fill_value). default_prompts are cycled when
    a text model is sampled without prompts, the low-resolution versions of default_images
    (float32 (n, H, W, C) in [-1, 1]) when a super-resolution model is sampled without
    images; an inpainting model has no default input."""
    kind: str = "none"
    num_classes: int = 0
    max_len: int = 0
    default_prompts: tuple[str, ...] = ()
    factor: int = 0
    noise_aug: float = 0.0
    default_images: np.ndarray | None = dataclasses.field(default=None, compare=False)
    image_task: str = "super_resolve"
    mask_probs: tuple[float, ...] = ()
    fill_value: float = 0.0

    @property
    def inpaint(self) -> bool:
        return self.kind == "image" and self.image_task == "inpaint"

    @property
    def null(self) -> np.ndarray:
        """One example's unconditional input: () class id num_classes, (L,) tokens of "", or
        a zero image (H, W, C), (H, W, C + 1) for inpainting."""
        if self.kind == "text":
            return encode_text([""], self.max_len)[0]
        if self.kind == "image":
            h, w, c = self.default_images.shape[1:]
            return np.zeros((h, w, c + self.inpaint), np.float32)
        return np.asarray(self.num_classes, np.int32)

    def null_input(self, n: int):
        """The unconditional input of n examples, or None for an unconditional model."""
        return None if self.kind == "none" else np.broadcast_to(self.null, (n, *self.null.shape))

    def train_input(self, batch: dict, keys: jax.Array, p_uncond: float):
        """The batch's labels / tokens, each replaced by the null input with probability
        p_uncond (its own key: keys (B,)), or None for an unconditional model."""
        if self.kind == "none":
            return None
        if self.inpaint:
            return train_condition(batch["image"], keys, self.mask_probs, self.fill_value)
        if self.kind == "image":
            return self._noisy_lr(batch["image"], keys)
        cond = batch[KINDS[self.kind]]
        drop = jax.vmap(lambda k: jax.random.bernoulli(jax.random.fold_in(k, 7), p_uncond))(keys)
        return jnp.where(drop.reshape((-1,) + (1,) * (cond.ndim - 1)), self.null, cond)

    def _noisy_lr(self, hr: jax.Array, keys: jax.Array) -> jax.Array:
        """lr_condition(hr) + sigma_aug * N(0, I), sigma_aug ~ U[0, noise_aug] per example
        (noise conditioning augmentation, Ho et al. 2021 "Cascaded Diffusion Models" sec. 4.2)."""
        x_lr = lr_condition(hr, self.factor)
        if not self.noise_aug:
            return x_lr
        def noise(k):
            k_s, k_n = jax.random.split(jax.random.fold_in(k, 13))
            sigma = jax.random.uniform(k_s, (), maxval=self.noise_aug)
            return sigma * jax.random.normal(k_n, hr.shape[1:])
        return x_lr + jax.vmap(noise)(keys)

    def image_input(self, num: int, images=None) -> jax.Array:
        """The upsampled low-resolution images (num, H, W, C) of `images` (float32 (n, h, w,
        C) at the model's low resolution, any n >= 1, repeated to num), else of the
        default_images' low-resolution versions in turn. An inpainting model takes its
        condition (n, H, W, C + 1) (`inpaint_cond.inpaint_condition`) and has no default."""
        if self.inpaint:
            return self._inpaint_input(num, images)
        return upsample(self.low_res(num, images), self.factor)

    def low_res(self, num: int, images=None) -> jax.Array:
        """The low-resolution images (num, h, w, C) that `image_input` upsamples."""
        full = self.default_images.shape[1:]
        low = (full[0] // self.factor, full[1] // self.factor, full[2])
        lr = downsample(jnp.asarray(self.default_images), self.factor) if images is None \
            else jnp.asarray(images, jnp.float32)
        if lr.ndim != 4 or lr.shape[1:] != low or not len(lr):
            raise ValueError(f"low-resolution images of shape {tuple(lr.shape)} given; this "
                             f"model upsamples x{self.factor} from (N, {low[0]}, {low[1]}, "
                             f"{low[2]}) to {full[0]}x{full[1]}; resize them to "
                             f"{low[0]}x{low[1]}")
        return lr[jnp.arange(num) % len(lr)]

    def _inpaint_input(self, num: int, cond) -> jax.Array:
        if cond is None:
            raise ValueError("this model is a mask-conditioned inpainting model (config."
                             "inpaint): it completes given images and does not sample from "
                             "nothing; use --mode=inpaint --image=X.png --mask=left_half, or "
                             "jaxgen.load(workdir).inpaint(images, mask)")
        shape = self.null.shape
        if np.ndim(cond) != 4 or tuple(np.shape(cond)[1:]) != shape or not len(cond):
            raise ValueError(f"an inpainting condition of shape {np.shape(cond)} given; this "
                             f"model takes (N, {shape[0]}, {shape[1]}, {shape[2]}): the masked "
                             f"image and the mask, from inpaint_cond.inpaint_condition")
        return jnp.asarray(cond, jnp.float32)[jnp.arange(num) % len(cond)]

    def sample_input(self, num: int, *, labels=None, prompts=None, images=None):
        """The condition of `num` samples: `labels` / `prompts` / low-resolution `images` (any
        count >= 1) repeated to num, else the classes in turn / default_prompts / the
        default images; None for an unconditional model."""
        if images is not None and self.kind != "image":
            raise ValueError(f"images of shape {np.shape(images)} given, but this model is "
                             f"not image-conditioned (no config.sr / config.inpaint); sample it "
                             f"without images")
        if self.kind == "image":
            if labels is not None or prompts is not None:
                what = "a masked image" if self.inpaint else "a low-resolution image"
                raise ValueError(f"labels / prompts given, but this model is conditioned on "
                                 f"{what} only; pass images=...")
            return self.image_input(num, images)
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
