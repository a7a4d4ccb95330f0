"""Saving and loading trained bundles: `<key>.keras` plus a `<key>.json` sidecar, both written atomically.

The weights file is written first and the sidecar last, each to a temporary file in the same directory and then
renamed into place, so a reader never sees half a file. The sidecar records the SHA-256 of the weights file: a
weights file that does not match its sidecar (a writer killed between the two renames, a truncated download,
garbage) is rejected. Loading goes through `keras.saving.load_model(..., safe_mode=True)`, which refuses to run
code embedded in a file, and the weights are then poured into a freshly built bundle so the inference models
are rebuilt from our own code, never from the file. File names are config keys (hashes), never user text.

Verifying a stored model (`verify_stored`: its sidecar, and the weights' digest) needs no Keras; only building the
bundle from the weights (`load_verified`) does. So the app can say which models exist, and show what their sidecars
record, before it imports Keras at all, and load each model only when a page needs it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from explorer import architectures
from explorer.config import FORMAT_VERSION, RunConfig

if TYPE_CHECKING:
    from explorer.networks import ModelBundle


class CorruptModelError(ValueError):
    """A stored model that must not be served: unreadable, truncated, mismatched or from another format."""


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def paths_for(directory: Path, key: str) -> tuple[Path, Path]:
    if not (len(key) == 16 and all(c in "0123456789abcdef" for c in key)):
        raise ValueError("a model key is 16 hexadecimal digits")
    return directory / f"{key}.keras", directory / f"{key}.json"


def save_bundle(bundle: ModelBundle, directory: Path | str, metadata: dict[str, Any]) -> Path:
    """Write the bundle's training model and a sidecar with `metadata` (history, metrics, ...). Returns the sidecar."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = bundle.config.key()
    weights_path, sidecar_path = paths_for(directory, key)
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".keras")
    os.close(descriptor)
    try:
        # Save an uncompiled twin: the optimizer's moment estimates would triple the file and are never loaded.
        twin = architectures.build(bundle.config)
        twin.training_model.set_weights(bundle.training_model.get_weights())
        twin.training_model.save(temporary)
        os.chmod(temporary, 0o644)
        digest = _digest(Path(temporary))
        os.replace(temporary, weights_path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    sidecar = {
        "format": FORMAT_VERSION,
        "key": key,
        "config": bundle.config.to_dict(),
        "weights_sha256": digest,
        **metadata,
    }
    try:
        atomic_write_bytes(sidecar_path, json.dumps(sidecar, indent=1, sort_keys=True, default=float).encode("utf-8"))
    except BaseException:
        weights_path.unlink(missing_ok=True)  # a model without its sidecar is never served: do not leave it behind
        raise
    return sidecar_path


def add_to_sidecar(directory: Path | str, key: str, extra: dict[str, Any]) -> None:
    """Merge `extra` into a stored model's sidecar (atomically); the weights and their digest stay as they are."""
    _, sidecar_path = paths_for(Path(directory), key)
    sidecar = {**read_sidecar(sidecar_path), **extra}
    atomic_write_bytes(sidecar_path, json.dumps(sidecar, indent=1, sort_keys=True, default=float).encode("utf-8"))


def read_sidecar(sidecar_path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(sidecar_path).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CorruptModelError(f"{Path(sidecar_path).name}: unreadable sidecar ({error})") from error
    if not isinstance(data, dict):
        raise CorruptModelError(f"{Path(sidecar_path).name}: sidecar is not a JSON object")
    if data.get("format") != FORMAT_VERSION:
        raise CorruptModelError(f"{Path(sidecar_path).name}: format {data.get('format')!r}, expected {FORMAT_VERSION}")
    return data


def verify_stored(directory: Path | str, key: str) -> dict[str, Any]:
    """The stored model's sidecar, once it and the weights file check out; reads (hashes) the weights but builds
    no model. Raises CorruptModelError, or FileNotFoundError when the model is simply absent."""
    weights_path, sidecar_path = paths_for(Path(directory), key)
    if not sidecar_path.exists() or not weights_path.exists():
        raise FileNotFoundError(f"no stored model {key}")
    sidecar = read_sidecar(sidecar_path)
    try:
        config = RunConfig.from_dict(sidecar["config"])
    except (KeyError, ValueError) as error:
        raise CorruptModelError(f"{key}: the sidecar's config is not valid ({error})") from error
    if sidecar.get("key") != key or config.key() != key:
        raise CorruptModelError(f"{key}: the sidecar's config hashes to {config.key()}, not to its file name")
    if _digest(weights_path) != sidecar.get("weights_sha256"):
        raise CorruptModelError(f"{key}: the weights file does not match its sidecar (truncated or replaced)")
    return sidecar


def load_verified(directory: Path | str, key: str, sidecar: dict[str, Any]) -> ModelBundle:
    """Build the bundle from a model `verify_stored` returned `sidecar` for, checking first that the weights file
    is still the one that sidecar describes (it may have been replaced or deleted since)."""
    weights_path, _ = paths_for(Path(directory), key)
    if not weights_path.exists():
        raise FileNotFoundError(f"no stored model {key}")
    if _digest(weights_path) != sidecar.get("weights_sha256"):
        raise CorruptModelError(f"{key}: the weights file changed since it was verified")
    return _build_from(weights_path, RunConfig.from_dict(sidecar["config"]))


def _build_from(weights_path: Path, config: RunConfig) -> ModelBundle:
    import keras

    import explorer.networks  # noqa: F401 (registers our layers with Keras, which the file names; see OneHot)

    try:
        stored = keras.saving.load_model(weights_path, compile=False, safe_mode=True)
        bundle = architectures.build(config)
        bundle.training_model.set_weights(stored.get_weights())
    except Exception as error:  # any failure to read the archive means the file must not be served
        raise CorruptModelError(
            f"{weights_path.stem}: the weights file could not be loaded ({type(error).__name__}: {error})"
        ) from error
    return bundle


def load_bundle(directory: Path | str, key: str) -> tuple[ModelBundle, dict[str, Any]]:
    """Load and verify a stored bundle, or raise CorruptModelError (FileNotFoundError when simply absent)."""
    sidecar = verify_stored(directory, key)
    return _build_from(paths_for(Path(directory), key)[0], RunConfig.from_dict(sidecar["config"])), sidecar
