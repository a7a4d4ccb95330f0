"""The half of a cross-backend test that runs in another process, under another Keras backend.

Keras picks its backend once, when it is first imported, so comparing TensorFlow with JAX takes two processes.
`tests/test_backends.py` computes one side in the pytest process and runs this file for the other side:

    KERAS_BACKEND=tensorflow python tests/backend_worker.py <input.pkl> <output.pkl>

The input holds any of two jobs: "norms" (case -> weight snapshots and a batch; answered with the gradient norms
of each snapshot) and "decode" (paths of stored models; answered with each model's decode of fixed inputs). Both sides
call the same functions below, so the two processes differ only in their backend. Inputs and outputs are pickles
of plain data (dicts, lists, NumPy arrays, a task Batch) that the test wrote itself in a temporary directory.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The fixed inputs every pretrained model decodes: enough rows that a wrong step would show, few enough to be quick.
DECODE_ROWS = 32
DECODE_SEED = 20_240_518


def norms_for_snapshots(config: dict[str, Any], batch, snapshots: list[list[np.ndarray]]) -> list[dict[str, float]]:
    """Gradient norms of `batch` for each weight snapshot, measured outside `fit` on a freshly built bundle."""
    from explorer import architectures
    from explorer.config import RunConfig
    from explorer.training import gradient_norms

    bundle = architectures.build(RunConfig.from_dict(config))
    measured = []
    for weights in snapshots:
        bundle.training_model.set_weights(weights)
        measured.append(gradient_norms(bundle, batch))
    return measured


def decode_pretrained(paths: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """Per stored model (`<directory>/<key>.keras`): what it says for fixed inputs, by path.

    Each is loaded through `explorer.storage`, as the app loads it, with its sidecar verified.

    Token models are decoded free-running with `greedy_decode` (one forward pass for direct models, the unrolled
    decoder for recursive ones); real-valued models (the series autoencoders) have no tokens, so their outputs
    are compared instead, one array per head.
    """
    from explorer.decoding import greedy_decode
    from explorer.storage import load_bundle
    from explorer.tasks import get_task, make_batch

    results: dict[str, dict[str, np.ndarray]] = {}
    for path in paths:
        bundle, _ = load_bundle(Path(path).parent, Path(path).stem)
        inputs = make_batch(bundle.config.task, DECODE_ROWS, seed=DECODE_SEED).encoder_inputs
        if get_task(bundle.config.task.name).values == "real":
            outputs = bundle.training_model.predict_on_batch(inputs)
            outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
            results[path] = {f"output_{i}": np.asarray(output) for i, output in enumerate(outputs)}
        else:
            trace = greedy_decode(bundle, inputs)
            results[path] = {"tokens": np.asarray(trace.tokens), "probabilities": np.asarray(trace.probabilities)}
            if trace.attention is not None:
                results[path]["attention"] = np.asarray(trace.attention)
    return results


def main(argv: list[str]) -> None:
    source, target = argv
    with open(source, "rb") as handle:
        jobs = pickle.load(handle)
    import keras

    answer: dict[str, Any] = {"backend": keras.backend.backend()}
    if "norms" in jobs:
        answer["norms"] = {case: norms_for_snapshots(**job) for case, job in jobs["norms"].items()}
    if "decode" in jobs:
        answer["decode"] = decode_pretrained(**jobs["decode"])
    with open(target, "wb") as handle:
        pickle.dump(answer, handle)


if __name__ == "__main__":
    main(sys.argv[1:])
