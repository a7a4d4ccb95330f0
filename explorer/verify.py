"""`cache verify`: every stored model loads under safe_mode, matches its key and still earns its accuracy."""

from __future__ import annotations

import math
from typing import Any

from explorer.cache import ModelStore
from explorer.storage import CorruptModelError, load_bundle
from explorer.training import evaluate

# Fresh examples per check, and a seed stream that training and the recorded evaluation never used.
VERIFY_EXAMPLES = 1000
VERIFY_SEED = 424_242


def tolerance(recorded: float, examples: int) -> float:
    """Allowed drop: three standard errors of a binomial proportion, and never less than two points."""
    return max(0.02, 3.0 * math.sqrt(max(recorded * (1 - recorded), 1e-4) / examples))


def verify_store(store: ModelStore) -> dict[str, Any]:
    rows = []
    for source, directory in store.locations():
        if not directory.is_dir():
            continue
        for sidecar_path in sorted(directory.glob("*.json")):
            key = sidecar_path.stem
            row: dict[str, Any] = {"source": source, "key": key, "ok": False}
            try:
                bundle, sidecar = load_bundle(directory, key)
            except (CorruptModelError, FileNotFoundError, ValueError) as error:
                row["detail"] = str(error)
                rows.append(row)
                continue
            if sidecar.get("status") == "diverged":
                # Kept on purpose (the gradients page shows the run that blew up); there is no accuracy to hold.
                row.update(ok=True, detail="diverged run, kept to show the NaN; loads and matches its key")
                rows.append(row)
                continue
            recorded = sidecar.get("metrics", {}).get("sequence_accuracy")
            measured = evaluate(bundle, VERIFY_EXAMPLES, seed=VERIFY_SEED)["sequence_accuracy"]
            row.update(recorded=recorded, measured=measured)
            if not isinstance(recorded, (int, float)) or not math.isfinite(recorded):
                row["detail"] = "no recorded accuracy"
            elif measured + tolerance(recorded, VERIFY_EXAMPLES) < recorded:
                row["detail"] = f"accuracy fell from {recorded:.1%} to {measured:.1%}"
            else:
                row["ok"] = True
                row["detail"] = (
                    f"{bundle.config.task.name} x {bundle.config.model.arch}: recorded {recorded:.1%}, "
                    f"measured {measured:.1%}"
                )
            rows.append(row)
    failed = sum(not r["ok"] for r in rows)
    return {"models": rows, "passed": len(rows) - failed, "failed": failed}
