"""Where trained models live: the shipped `pretrained/` folder first, then the user's cache directory.

A file that is truncated, garbage, from another format version or whose sidecar does not hash to its name is
never served: it is skipped with a logged warning, and in the cache directory it is deleted so the model is
rebuilt. A cache directory that cannot be written (read-only, full disk) is reported, not raised: the trained
model is still served from memory.

A lookup (`ModelStore.lookup`) verifies a stored model, its sidecar and the digest of its weights, but does not
build it: `Found.load()` does that, when a page first needs the model itself. What the sidecar records (metrics,
history, where and how it was trained) is all a landing page or a comparison shows, and reading it needs no Keras.
The replay snapshots a model keeps (`Found.snapshots`) are listed from its sidecar too, and each is built only when
a page asks for that epoch (`Found.load_snapshot`), after its own digest checks out.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from explorer.config import RunConfig
from explorer.storage import (
    CorruptModelError,
    load_snapshot,
    load_verified,
    paths_for,
    read_sidecar,
    save_bundle,
    snapshot_entries,
    snapshot_files,
    verify_stored,
)

if TYPE_CHECKING:
    from explorer.networks import ModelBundle
    from explorer.training import Snapshot

log = logging.getLogger(__name__)

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
CACHE_ENV = "SEQ2SEQ_CACHE_DIR"


def default_cache_dir() -> Path:
    """`$SEQ2SEQ_CACHE_DIR`, else the platform's per-user cache folder."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "seq2seq-explorer"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "seq2seq-explorer" / "cache"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "seq2seq-explorer"


@dataclass
class Found:
    """A stored model that checked out: its sidecar, where it is, and how to build it."""

    key: str
    sidecar: dict[str, Any]
    source: str  # "pretrained" or "cache"
    path: Path  # the folder it is stored in

    def load(self) -> ModelBundle:
        """Build the model from its file, each call anew; CorruptModelError or FileNotFoundError when the file
        is no longer the one this lookup verified."""
        return load_verified(self.path, self.key, self.sidecar)

    @property
    def snapshots(self) -> list[dict[str, Any]]:
        """The replay snapshots its sidecar lists, earliest first (epoch, label, accuracies, ...); no file is read."""
        return snapshot_entries(self.sidecar)

    def load_snapshot(self, epoch: float | str) -> ModelBundle:
        """Build its replay snapshot at `epoch` (a number or its label, "2"), each call anew; CorruptModelError
        when the sidecar lists none there or the file does not match it, FileNotFoundError when it is gone."""
        return load_snapshot(self.path, self.key, self.sidecar, epoch)

    @functools.cached_property
    def bundle(self) -> ModelBundle:
        """The model, built on first access and then kept with this `Found` (for scripts; the job manager calls
        `load` instead, so that its memory budget decides how long a model stays)."""
        return self.load()


class ModelStore:
    def __init__(self, pretrained_dir: Path | str | None = None, cache_dir: Path | str | None = None) -> None:
        self.pretrained_dir = Path(pretrained_dir) if pretrained_dir is not None else PRETRAINED_DIR
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()

    def locations(self) -> list[tuple[str, Path]]:
        return [("pretrained", self.pretrained_dir), ("cache", self.cache_dir)]

    def lookup(self, config: RunConfig) -> Found | None:
        """The stored model for `config`, `pretrained/` first; None when neither location has a sound one (a
        broken file in the cache directory is deleted, so that the model is trained again)."""
        key = config.key()
        for source, directory in self.locations():
            try:
                sidecar = verify_stored(directory, key)
            except FileNotFoundError:
                continue
            except CorruptModelError as error:
                log.warning("skipping a stored model that cannot be served: %s", error)
                if source == "cache":
                    self.discard(key)
                continue
            return Found(key, sidecar, source, directory)
        return None

    def save(
        self, bundle: ModelBundle, metadata: dict[str, Any], snapshots: list[Snapshot] | None = None
    ) -> str | None:
        """Save into the cache directory, with its replay `snapshots`. Returns None, or why it could not be saved
        (the model stays usable)."""
        try:
            save_bundle(bundle, self.cache_dir, metadata, snapshots or ())
        except OSError as error:  # read-only, full disk, a file where the folder should be, ...
            log.warning("could not save model %s to %s: %s", bundle.config.key(), self.cache_dir, error)
            return f"could not save to {self.cache_dir}: {error.strerror or error}"
        except Exception as error:  # a serializer that wraps the I/O error: still never lose the trained model
            log.warning("could not save model %s to %s: %r", bundle.config.key(), self.cache_dir, error)
            return f"could not save to {self.cache_dir}: {error}"
        return None

    def discard(self, key: str) -> None:
        for path in [*paths_for(self.cache_dir, key), *snapshot_files(self.cache_dir, key)]:
            try:
                path.unlink(missing_ok=True)
            except OSError as error:
                log.warning("could not delete %s: %s", path, error)

    def entries(self) -> list[dict[str, Any]]:
        """Every stored model's sidecar summary, readable or not, in both locations."""
        rows = []
        for source, directory in self.locations():
            if not directory.is_dir():
                continue
            for sidecar_path in sorted(directory.glob("*.json")):
                row: dict[str, Any] = {"source": source, "key": sidecar_path.stem, "path": str(sidecar_path)}
                try:
                    sidecar = read_sidecar(sidecar_path)
                    config = RunConfig.from_dict(sidecar["config"])
                    row.update(
                        task=config.task.name,
                        arch=config.model.arch,
                        sequence_accuracy=sidecar.get("metrics", {}).get("sequence_accuracy"),
                        bytes=(directory / f"{sidecar_path.stem}.keras").stat().st_size,
                        ok=True,
                    )
                except (CorruptModelError, KeyError, ValueError, OSError) as error:
                    row.update(ok=False, error=str(error))
                rows.append(row)
        return rows

    def stored_sidecars(self, source: str = "cache") -> list[tuple[str, dict[str, Any]]]:
        """(key, sidecar) for every model stored in one location ("cache" or "pretrained"), newest first.

        Only the sidecars are read (config, metrics, history: what a comparison shows), never the weights; one
        that is unreadable, from another format or whose config does not hash to its name is left out.
        """
        directory = dict(self.locations())[source]
        if not directory.is_dir():
            return []
        found = []
        for sidecar_path in directory.glob("*.json"):
            try:
                sidecar = read_sidecar(sidecar_path)
                valid = RunConfig.from_dict(sidecar["config"]).key() == sidecar_path.stem
                modified = sidecar_path.stat().st_mtime
            except (CorruptModelError, KeyError, TypeError, ValueError, OSError):
                continue
            if valid:
                found.append((modified, sidecar_path.stem, sidecar))
        return [(key, sidecar) for _, key, sidecar in sorted(found, key=lambda row: row[0], reverse=True)]

    def clear(self) -> int:
        """Delete every file in the cache directory (never the shipped pretrained models). Returns the count."""
        removed = 0
        if self.cache_dir.is_dir():
            for path in (
                list(self.cache_dir.glob("*.keras"))
                + list(self.cache_dir.glob("*.json"))
                + list(self.cache_dir.glob(".tmp-*"))
            ):
                path.unlink(missing_ok=True)
                removed += 1
        return removed
