"""VAE family: the discretised-logistic likelihood, ELBO = recon - KL by hand, bits/dim,
one step, evaluate, the reconstruct / interpolate modes, and a smoke run."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen import data as data_lib
from jaxgen import families, sampling
from jaxgen.families import vae
from jaxgen.train import run
from jaxgen.train.logging import read_metrics
from conftest import run_script, smoke_config

LEVELS = np.arange(256) / 127.5 - 1.0  # the 8-bit grid on [-1, 1]


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


@pytest.mark.parametrize("mean,log_scale", [(0.0, -3.0), (0.7, -1.0), (-0.99, -6.0), (2.0, 0.5)])
def test_discretized_logistic_is_a_distribution_over_the_256_levels(mean, log_scale):
    logp = vae.discretized_logistic_logp(jnp.asarray(LEVELS, jnp.float32), mean, log_scale)
    assert np.all(np.isfinite(logp))
    np.testing.assert_allclose(np.exp(np.asarray(logp, np.float64)).sum(), 1.0, rtol=1e-4)


def test_discretized_logistic_matches_the_cdf_difference():
    x, mean, s = LEVELS[[0, 100, 200, 255]], 0.1, np.exp(-2.0)
    cdf = lambda v: _sigmoid((v - mean) / s)  # noqa: E731
    want = np.log(np.r_[cdf(x[0] + 1 / 255), cdf(x[1:3] + 1 / 255) - cdf(x[1:3] - 1 / 255),
                        1 - cdf(x[3] - 1 / 255)])
    got = vae.discretized_logistic_logp(jnp.asarray(x, jnp.float32), mean, -2.0)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_gaussian_kl_by_hand():
    mu = jnp.array([[1.0, 0.0]])
    log_var = jnp.array([[0.0, math.log(2.0)]])
    # 1/2 (1 + 1 - 1 - 0) + 1/2 (0 + 2 - 1 - ln 2)
    np.testing.assert_allclose(vae.gaussian_kl(mu, log_var, jnp.zeros(2), jnp.eye(2)),
                               [0.5 + 0.5 * (1 - math.log(2))], rtol=1e-6)
    # one dimension against N(m=1, s=2): log(s / sigma) + (sigma^2 + (mu - m)^2) / (2 s^2) - 1/2
    want = math.log(2.0) + (1.0 + 4.0) / 8.0 - 0.5
    np.testing.assert_allclose(vae.gaussian_kl(jnp.array([[-1.0]]), jnp.array([[0.0]]),
                                               jnp.array([1.0]), jnp.array([[2.0]])), [want],
                               rtol=1e-6)


def test_gaussian_kl_against_a_full_covariance_prior():
    rng = np.random.default_rng(0)
    mu, log_var, m = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.normal(size=4)
    tril = np.tril(rng.normal(size=(4, 4)), -1) + np.diag(np.exp(rng.normal(size=4)))
    cov, inv = tril @ tril.T, np.linalg.inv(tril @ tril.T)
    want = [0.5 * (np.trace(inv @ np.diag(np.exp(v))) + (u - m) @ inv @ (u - m) - 4
                   + np.linalg.slogdet(cov)[1] - v.sum()) for u, v in zip(mu, log_var)]
    got = vae.gaussian_kl(*(jnp.asarray(a, jnp.float32) for a in (mu, log_var, m, tril)))
    np.testing.assert_allclose(got, want, rtol=1e-4)


class _Fixed:
    """A stand-in model: encode -> (mu, log_var) given, decode -> (z_0 as the pixel mean, log s),
    prior -> N(0, I)."""
    def __init__(self, mu, log_var, log_scale):
        self.mu, self.log_var, self.log_scale = mu, log_var, log_scale

    def apply(self, variables, inp=None, method=None):
        if method == "encode":
            return self.mu, self.log_var
        if method == "prior":
            return jnp.zeros(2), jnp.eye(2)
        return inp[:, :1].reshape(-1, 1, 1, 1), jnp.full((len(inp), 1, 1, 1), self.log_scale)


def test_elbo_is_recon_minus_kl_on_a_one_pixel_case_by_hand():
    x = jnp.full((1, 1, 1, 1), LEVELS[130], jnp.float32)
    model = _Fixed(mu=jnp.array([[0.0, 0.5]]), log_var=jnp.array([[0.0, 0.0]]), log_scale=-3.0)
    eps = jnp.array([[0.02, 0.0]])                 # z = mu + sigma eps = (0.02, 0.5)
    terms = jax.device_get(vae.elbo_terms(model, None, x, eps))
    s, z0 = math.exp(-3.0), 0.02
    recon = math.log(_sigmoid((LEVELS[130] - z0 + 1 / 255) / s)
                     - _sigmoid((LEVELS[130] - z0 - 1 / 255) / s))
    kl = 0.5 * 0.5**2
    np.testing.assert_allclose(terms["recon"], [recon], rtol=1e-5)
    np.testing.assert_allclose(terms["kl"], [kl], rtol=1e-6)
    np.testing.assert_allclose(terms["elbo"], [recon - kl], rtol=1e-5)


def test_bits_per_dim_converts_from_nats():
    np.testing.assert_allclose(vae.bits_per_dim(784 * math.log(2.0), 784), 1.0)
    np.testing.assert_allclose(vae.bits_per_dim(3 * 784 * math.log(2.0), 784), 3.0)
    np.testing.assert_allclose(vae.bits_per_dim(784 * math.log(256.0), 784), 8.0)  # uniform


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("vae")
    run(smoke_config("vae_fmnist"), workdir)
    return workdir, *sampling.load(workdir)


def test_smoke_run_logs_the_elbo_terms(trained):
    workdir, *_ = trained
    rows = read_metrics(workdir / "metrics.jsonl")
    assert [r["step"] for r in rows] == [2, 4, 6, 8]
    for r in rows:
        np.testing.assert_allclose(r["elbo"], r["recon"] - r["kl"], rtol=1e-5)
        np.testing.assert_allclose(r["bits_per_dim"], -r["elbo"] / (784 * math.log(2)), rtol=1e-5)
        np.testing.assert_allclose(r["loss"], r["bits_per_dim"], rtol=1e-5)  # beta = 1


def test_evaluate_is_per_example_and_consistent(trained):
    _, config, family, state, _, ds = trained
    batch = data_lib.batch_at(ds, 0, batch_size=6, seed=0)
    out = jax.device_get(family.evaluate(state, batch, rng=jax.random.key(0)))
    assert set(out) == {"bits_per_dim", "elbo", "recon", "kl"}
    assert all(v.shape == (6,) for v in out.values())
    np.testing.assert_allclose(out["bits_per_dim"], -out["elbo"] / (784 * math.log(2)), rtol=1e-6)
    assert np.all(out["kl"] >= 0) and 0 < out["bits_per_dim"].mean() < 9
    whole = vae.evaluate_split(family, state, _first(ds, 10), batch_size=4)
    assert set(whole) == set(out) and np.isfinite(whole["bits_per_dim"])


def _first(ds, n):
    return data_lib.Dataset(images=ds.images[:n], labels=ds.labels[:n],
                            num_classes=ds.num_classes, name="first")


@pytest.mark.parametrize("mode", ["generate", "reconstruct", "interpolate"])
def test_sample_modes(trained, mode):
    *_, family, state, _, ds = trained
    images = np.asarray(sampling.generate(family, state, mode=mode, seed=0, num=9, dataset=ds,
                                          options={}))
    assert images.shape == (9, 28, 28, 1) and np.abs(images).max() <= 1.0
    if mode == "reconstruct":  # rows of 3: originals (exactly on the 8-bit grid), reconstructions
        levels = (images[:3] + 1) * 127.5
        np.testing.assert_allclose(levels, np.rint(levels), atol=1e-3)
    again = sampling.generate(family, state, mode=mode, seed=0, num=9, dataset=ds, options={})
    np.testing.assert_array_equal(images, np.asarray(again))


def test_too_many_images_for_a_mode_is_a_clear_error(trained):
    *_, family, state, _, ds = trained
    with pytest.raises(ValueError, match="lower --num"):
        vae.pick_images(_first(ds, 4), jax.random.key(0), 8)


def test_sample_py_writes_reconstructions_and_interpolations(trained, tmp_path):
    workdir, *_ = trained
    for mode in ("reconstruct", "interpolate"):
        proc = run_script("sample.py", f"--workdir={workdir}", f"--mode={mode}", "--num=4",
                          f"--out={tmp_path / mode}.png")
        assert "(4 images, vae, step 8)" in proc.stdout and (tmp_path / f"{mode}.png").is_file()
