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

Training replay: a model may come with a few snapshots of its weights from earlier in its training
(`explorer.training.Snapshot`), each in its own file, `<key>.step-<NNNNNNN>.keras` (the optimisation step it was
taken at), saved the same way as the main file: an uncompiled twin, written atomically, its SHA-256 in the sidecar.
The sidecar, written last, lists them (`snapshots`: epoch, step, file, sha256, the accuracies recorded then); a
snapshot file it does not list, or whose digest does not match, is never loaded. `snapshot_entries` reads the
list without Keras; `load_snapshot` builds one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from explorer import architectures
from explorer.config import FORMAT_VERSION, RunConfig

if TYPE_CHECKING:
    from explorer.networks import ModelBundle
    from explorer.training import Snapshot


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


def snapshot_path(directory: Path, key: str, step: int) -> Path:
    """Where the snapshot of model `key` taken after `step` optimisation steps lives (a name made of the key and a
    whole number only)."""
    weights_path, _ = paths_for(directory, key)
    if not (isinstance(step, int) and not isinstance(step, bool) and 0 <= step < 10**7):
        raise ValueError("a snapshot's step is a whole number from 0 to 9,999,999")
    return weights_path.with_name(f"{key}.step-{step:07d}.keras")


def snapshot_files(directory: Path, key: str) -> list[Path]:
    """Every snapshot file of model `key` in `directory`, listed in its sidecar or not."""
    paths_for(directory, key)  # validates the key, so the pattern below is plain hex
    return sorted(Path(directory).glob(f"{key}.step-*.keras"))


def _save_weights(twin: ModelBundle, weights: list, destination: Path) -> str:
    """Write `weights` through `twin`, an uncompiled copy of the model, to `destination`, atomically; returns the
    file's SHA-256. (Saving the trained model itself would store the optimizer's moment estimates, which triple
    the file and are never loaded.)"""
    descriptor, temporary = tempfile.mkstemp(dir=destination.parent, prefix=".tmp-", suffix=".keras")
    os.close(descriptor)
    try:
        twin.training_model.set_weights(weights)
        twin.training_model.save(temporary)
        os.chmod(temporary, 0o644)
        digest = _digest(Path(temporary))
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return digest


def save_bundle(
    bundle: ModelBundle, directory: Path | str, metadata: dict[str, Any], snapshots: Sequence[Snapshot] = ()
) -> Path:
    """Write the bundle's training model, its replay `snapshots` (if any) and a sidecar with `metadata` (history,
    metrics, ...) and the list of snapshots, last. Returns the sidecar. Snapshot files of this key that the new
    sidecar does not list (an earlier training run's) are deleted afterwards."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = bundle.config.key()
    weights_path, sidecar_path = paths_for(directory, key)
    written: list[Path] = []
    try:
        twin = architectures.build(bundle.config)
        # Saving over a stored model: withdraw its sidecar first. Each file is renamed into place whole, but not the
        # pair at once, and a writer stopped between the two renames would leave new weights under the old sidecar
        # (a pair that fails its check, and that a reader would delete); without a sidecar it is simply absent.
        sidecar_path.unlink(missing_ok=True)
        digest = _save_weights(twin, bundle.training_model.get_weights(), weights_path)
        written.append(weights_path)
        listed = []
        for snapshot in snapshots:
            path = snapshot_path(directory, key, snapshot.step)
            snapshot_digest = _save_weights(twin, snapshot.weights, path)
            written.append(path)
            listed.append({**snapshot.record(), "file": path.name, "sha256": snapshot_digest})
        sidecar = {
            "format": FORMAT_VERSION,
            "key": key,
            "config": bundle.config.to_dict(),
            "weights_sha256": digest,
            **metadata,
            "snapshots": listed,
        }
        atomic_write_bytes(sidecar_path, json.dumps(sidecar, indent=1, sort_keys=True, default=float).encode("utf-8"))
    except BaseException:
        # A model without its sidecar is never served: do not leave its files behind.
        for path in written:
            path.unlink(missing_ok=True)
        raise
    for stale in set(snapshot_files(directory, key)) - set(written):
        stale.unlink(missing_ok=True)
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


def epoch_label(epoch: float) -> str:
    """How a replay epoch is named in links and on the slider: "0", "0.25", "2"."""
    return f"{float(epoch):g}"


def snapshot_entries(sidecar: dict[str, Any]) -> list[dict[str, Any]]:
    """The replay snapshots a sidecar lists, earliest first, each with its `label` (`epoch_label`); entries that
    are not well formed are left out. Reads no file and needs no Keras."""
    entries = []
    for entry in sidecar.get("snapshots") or []:
        if not isinstance(entry, dict):
            continue
        epoch, step = entry.get("epoch"), entry.get("step")
        if not isinstance(epoch, (int, float)) or not math.isfinite(epoch) or epoch < 0 or not isinstance(step, int):
            continue
        entries.append({**entry, "label": epoch_label(epoch)})
    return sorted(entries, key=lambda entry: entry["epoch"])


def load_snapshot(directory: Path | str, key: str, sidecar: dict[str, Any], epoch: float | str) -> ModelBundle:
    """Build the bundle of model `key`'s replay snapshot at `epoch` (a number, or its label: "2", "0.25").

    Only a snapshot the sidecar lists is loaded, and only when its file's digest is the one listed: anything else
    raises CorruptModelError (FileNotFoundError when the listed file is simply gone). The file is read under
    `safe_mode`, and its weights poured into a freshly built bundle, like the main model's.
    """
    label = epoch if isinstance(epoch, str) else epoch_label(epoch)
    entries = snapshot_entries(sidecar)
    entry = next((entry for entry in entries if entry["label"] == label), None)
    if entry is None:
        listed = ", ".join(e["label"] for e in entries) or "none"
        raise CorruptModelError(f"{key}: its sidecar lists no snapshot at epoch {label[:20]!r} (listed: {listed})")
    path = snapshot_path(Path(directory), key, entry["step"])
    if entry.get("file") != path.name:
        named = str(entry.get("file"))[:40]
        raise CorruptModelError(f"{key}: its sidecar names the snapshot file {named!r}, not {path.name}")
    if not path.exists():
        raise FileNotFoundError(f"no snapshot file {path.name}")
    if _digest(path) != entry.get("sha256"):
        raise CorruptModelError(f"{path.name}: the snapshot file does not match its sidecar (truncated or replaced)")
    return _build_from(path, RunConfig.from_dict(sidecar["config"]))


def load_bundle(directory: Path | str, key: str) -> tuple[ModelBundle, dict[str, Any]]:
    """Load and verify a stored bundle, or raise CorruptModelError (FileNotFoundError when simply absent)."""
    sidecar = verify_stored(directory, key)
    return _build_from(paths_for(Path(directory), key)[0], RunConfig.from_dict(sidecar["config"])), sidecar
