"""Network weights shipped inside the package: an .npz (one .npy per parameter, no pickle)
written byte-deterministically, and loaded only when its SHA-256 is the one the code pins,
so everyone computes identical metrics."""
from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # a fixed timestamp keeps the file's bytes (and hash) stable


def write_weights(path, params) -> str:
    """Writes params as an .npz (keys "Conv_0/kernel", ...; no pickle) whose bytes depend only
    on the values; returns its SHA-256 hex digest."""
    flat = {"/".join(k.key for k in keys): np.asarray(v, np.float32)
            for keys, v in jax.tree_util.tree_flatten_with_path(params)[0]}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name in sorted(flat):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, flat[name], allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE), buf.getvalue())
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _unflatten(flat: dict[str, np.ndarray]) -> dict:
    params: dict = {}
    for name, value in flat.items():
        *outer, leaf = name.split("/")
        node = params
        for key in outer:
            node = node.setdefault(key, {})
        node[leaf] = jnp.asarray(value)
    return params


def read_weights(path: Path, sha256: str | None, *, what: str, trainer: str,
                 constant: str) -> dict:
    """The params in `path`, after checking the file's SHA-256 against `sha256` (None skips
    the check, for a freshly trained file). `what` names the network in errors, `trainer` is
    the module that retrains it and `constant` the "file: NAME" pinning the hash."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} weights {path} not found; restore them from the "
                                f"repository or run: python -m {trainer}")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if sha256 is not None and digest != sha256:
        raise ValueError(
            f"{path}: SHA-256 is {digest}, expected {sha256}. These are not the {what} "
            f"weights jaxgen ships, so the metrics would not be comparable. Fix: restore the "
            f"file from the repository, or retrain (python -m {trainer}) and update {constant}.")
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        return _unflatten({k: npz[k] for k in npz.files})
