"""The image-conditioned denoiser (SR3): the condition enters as extra input channels of the
U-Net and of the DiT, and changing it changes the output."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.diffusion.sr import lr_condition
from jaxgen.models import DiT, DiTConfig
from jaxgen.models.conditioned import ImageConditioned
from jaxgen.models.unet import UNet, UNetConfig

DENOISERS = {"unet": UNet(UNetConfig(ch=4, ch_mult=(1,), num_res_blocks=1,
                                     attn_resolutions=(), num_groups=2)),
             "dit": DiT(DiTConfig(patch_size=7, width=32, depth=1, heads=2, mlp_ratio=2))}


def random_params(shapes, scale=0.1):
    """N(0, scale^2) parameters of the given shapes, drawn by numpy: no initialiser to compile,
    and no zero-initialised output layer that would hide the condition."""
    rng = np.random.default_rng(0)
    return jax.tree.map(lambda s: jnp.asarray(scale * rng.standard_normal(s.shape), s.dtype),
                        shapes)


@pytest.mark.parametrize("arch", sorted(DENOISERS))
def test_output_depends_on_the_low_resolution_image(arch):
    model = ImageConditioned(DENOISERS[arch])
    kx, kh = jax.random.split(jax.random.key(0))
    x = jax.random.normal(kx, (2, 28, 28, 1))
    t = jnp.array([10, 500])
    hr = jax.random.uniform(kh, (2, 28, 28, 1), minval=-1, maxval=1)
    a, b = lr_condition(hr, 4), lr_condition(-hr, 4)
    params = random_params(jax.eval_shape(model.init, jax.random.key(1), x, t, a)["params"])
    first = jax.tree.leaves(params["denoiser"])   # C + C_c = 2 input channels somewhere
    assert any(p.ndim >= 2 and p.shape[-2] in (2, 2 * 49) for p in first)
    apply = jax.jit(lambda y: model.apply({"params": params}, x, t, y))
    out_a, out_b = apply(a), apply(b)
    assert out_a.shape == x.shape
    assert float(jnp.abs(out_a - out_b).mean()) > 1e-3
    np.testing.assert_array_equal(out_a, apply(a))


def test_missing_or_mis_sized_condition_names_shapes():
    model = ImageConditioned(DENOISERS["unet"])
    x, t = jnp.zeros((1, 28, 28, 1)), jnp.zeros((1,), jnp.int32)
    with pytest.raises(ValueError, match=r"input \(1, 28, 28, 1\), got \(1, 7, 7, 1\)"):
        jax.eval_shape(model.init, jax.random.key(0), x, t, jnp.zeros((1, 7, 7, 1)))
