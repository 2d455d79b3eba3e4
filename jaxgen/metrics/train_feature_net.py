"""Trains the Fashion-MNIST classifier whose features the sample-quality metrics use.

  python -m jaxgen.metrics.train_feature_net [--out jaxgen/metrics/weights/fmnist_classifier.npz]

Deterministic from --seed: the same seed on the same software stack writes a file with the
same bytes, hence the same SHA-256 (`feature_net.WEIGHTS_SHA256`). Adam with a cosine
learning-rate decay, batch 128, no augmentation; a few minutes on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgen.data import from_uint8, load_fashion_mnist
from jaxgen.metrics import feature_net


def make_step(tx, model=None):
    """The jitted update: softmax cross-entropy of the classifier on one batch; `model`
    returns (logits, features) (default: the feature net)."""
    model = model or feature_net.FeatureNet()

    def loss_fn(params, x, y):
        logits, _ = model.apply({"params": params}, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    @jax.jit
    def step(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss
    return step


def accuracy(params, images: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy on uint8 (N, 28, 28, 1) images with int labels (N,)."""
    _, probs = feature_net.extract(images, params=params)
    return float(np.mean(probs.argmax(axis=1) == labels))


def train(*, seed: int = 0, epochs: int = 6, batch_size: int = 128, lr: float = 2e-3,
          data_path: str | None = None, log=print) -> tuple[dict, float]:
    """Trains from `seed`; returns (params, test accuracy). Epoch e visits the training set in
    the order default_rng([seed, e]).permutation(60000), dropping the last partial batch."""
    images, labels = load_fashion_mnist("train", data_path)
    steps_per_epoch = len(images) // batch_size
    tx = optax.adam(optax.cosine_decay_schedule(lr, epochs * steps_per_epoch))
    params = feature_net.FeatureNet().init(jax.random.PRNGKey(seed),
                                           jnp.zeros((1, *feature_net.IMAGE_SHAPE)))["params"]
    opt_state, step = tx.init(params), make_step(tx)
    for epoch in range(epochs):
        order = np.random.default_rng([seed, epoch]).permutation(len(images))
        t0, losses = time.perf_counter(), []
        for i in range(steps_per_epoch):
            ids = order[i * batch_size:(i + 1) * batch_size]
            params, opt_state, loss = step(params, opt_state, from_uint8(images[ids]), labels[ids])
            losses.append(loss)
        log(f"epoch {epoch + 1}/{epochs}: loss {float(np.mean(jax.device_get(losses))):.4f} "
            f"({time.perf_counter() - t0:.0f} s)")
    test_images, test_labels = load_fashion_mnist("test", data_path)
    return params, accuracy(params, test_images, test_labels)


def train_and_ship(argv, *, doc: str, module, train, epochs: int) -> None:
    """The command line of a shipped network's trainer: train, write `module.WEIGHTS_FILE` (or
    --out) and compare its SHA-256 with the one `module` pins."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(module.WEIGHTS_FILE), help="weights .npz to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--data_path", default=None, help="folder of the Fashion-MNIST .gz files")
    args = p.parse_args(argv)
    params, acc = train(seed=args.seed, epochs=args.epochs, data_path=args.data_path)
    digest = module.write_weights(args.out, params)
    print(f"test accuracy {acc:.4f}; wrote {args.out}\nSHA-256 {digest}")
    if digest != module.WEIGHTS_SHA256:
        name = module.__name__.rsplit(".", 1)[-1]
        print(f"this differs from {name}.WEIGHTS_SHA256: scores computed with these weights "
              f"are not comparable with the shipped ones (update WEIGHTS_SHA256 and "
              f"TEST_ACCURACY there if you mean to replace them)")


def main(argv):
    train_and_ship(argv, doc=__doc__, module=feature_net, train=train, epochs=6)


if __name__ == "__main__":
    main(sys.argv[1:])
