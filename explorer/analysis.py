"""Measurements the pages show that need a trained model: generalisation to other lengths and comparisons."""

from __future__ import annotations

import dataclasses

import numpy as np

from explorer import architectures
from explorer.config import RunConfig
from explorer.networks import ModelBundle
from explorer.tasks import get_task, shift_right
from explorer.training import evaluate


def with_input_length(config: RunConfig, length: int) -> RunConfig:
    """The same model on inputs of another length (the output length follows the task's length rule)."""
    task = config.task
    output = get_task(task.name).output_length_for(length, task.output_length)
    return dataclasses.replace(config, task=dataclasses.replace(task, input_length=length, output_length=output))


def rebuild_for_length(bundle: ModelBundle, length: int) -> ModelBundle:
    """A bundle for another input length sharing the trained weights (none of our weights depend on length)."""
    config = with_input_length(bundle.config, length)
    other = architectures.build(config)
    other.training_model.set_weights(bundle.training_model.get_weights())
    return other


def accuracy_by_length(bundle: ModelBundle, lengths: list[int], examples: int = 300) -> list[dict]:
    """Exact-sequence accuracy for each input length; lengths the task cannot take are skipped."""
    rows = []
    for length in lengths:
        try:
            other = bundle if length == bundle.config.task.input_length else rebuild_for_length(bundle, length)
        except ValueError:
            continue
        accuracy = evaluate(other, examples, seed=77 + length)["sequence_accuracy"]
        rows.append(
            {"input_length": length, "sequence_accuracy": accuracy, "trained_length": bundle.config.task.input_length}
        )
    return rows


def length_rows(bundle: ModelBundle) -> dict:
    """`accuracy_by_length` over the standard `length_choices`: what the Train page draws, and what `pretrain`
    stores in each shipped model's sidecar (as "length_accuracy") so that the page need not recompute it.
    Series autoencoders are judged on closeness, not exact symbols: no rows."""
    lengths = length_choices(bundle.config)
    tokens = get_task(bundle.config.task.name).values == "tokens"
    return {"lengths": lengths, "rows": accuracy_by_length(bundle, lengths) if tokens else []}


def stored_length_rows(sidecar: dict, lengths: list[int]) -> list[dict] | None:
    """The sidecar's precomputed rows when they were made for exactly `lengths` and look sound, else None."""
    stored = sidecar.get("length_accuracy")
    if not isinstance(stored, dict) or stored.get("lengths") != list(lengths):
        return None
    rows = stored.get("rows")
    try:
        sound = isinstance(rows, list) and all(
            int(row["input_length"]) in lengths and 0.0 <= float(row["sequence_accuracy"]) <= 1.0 for row in rows
        )
    except (KeyError, TypeError, ValueError):
        return None
    return rows if sound else None


def length_choices(config: RunConfig, count: int = 6) -> list[int]:
    """Input lengths around the trained one, up to twice as long, that the task accepts."""
    trained = config.task.input_length
    low = max(1, get_task(config.task.name).shortest_input(config.task))
    candidates = sorted({max(low, trained - 2), trained, trained + 2, trained + 4, int(trained * 1.5), trained * 2})
    return [c for c in candidates if c >= low][:count]


def step_gradients(bundle: ModelBundle, encoder_inputs, targets, decoder_inputs=None) -> dict[str, np.ndarray]:
    """How strongly the loss reaches back to each time step: |dL/dx_t| for every input step (and decoder step).

    Backpropagation through time multiplies one Jacobian per step; the norms show the gradient shrinking (or
    growing) with distance from the loss. Token inputs are differentiated at their one-hot encoding.
    Returns {"encoder": (input_length,), "decoder": (target_length,) for teacher-forced decoders}.
    """
    import keras

    from explorer.backend import input_gradients

    model = bundle.training_model
    task = get_task(bundle.config.task.name)
    encoder_inputs = np.asarray(encoder_inputs)
    if task.values == "tokens":
        vocab = bundle.config.task.vocab_size
        encoder_hot = np.eye(vocab, dtype=np.float32)[encoder_inputs]
        feeds = [model.get_layer("encoder_one_hot").output]
        values = [encoder_hot]
        if bundle.uses_decoder_inputs:
            decoder_inputs = shift_right(np.asarray(targets)) if decoder_inputs is None else decoder_inputs
            feeds.append(model.get_layer("decoder_one_hot").output)
            values.append(np.eye(vocab, dtype=np.float32)[np.asarray(decoder_inputs)])
        loss = keras.losses.SparseCategoricalCrossentropy()
    else:
        feeds, values = [model.inputs[0]], [encoder_inputs.astype(np.float32)]
        loss = keras.losses.MeanSquaredError()
    # Token models are cut after their one-hot layers, so the gradient has something continuous to reach.
    differentiable = model if task.values == "real" else keras.Model(feeds, model.output)
    target_list = targets if bundle.has_several_heads else np.asarray(targets)
    gradients = input_gradients(differentiable, loss, values, target_list)
    result = {
        "encoder": np.linalg.norm(gradients[0].reshape(len(encoder_inputs), encoder_inputs.shape[1], -1), axis=-1).mean(
            axis=0
        )
    }
    if len(gradients) > 1:
        result["decoder"] = np.linalg.norm(gradients[1], axis=-1).mean(axis=0)
    return result


def alignment_score(attention: np.ndarray, ideal: np.ndarray | None) -> float | None:
    """Mean attention weight on the input step each output step should read (1.0 = perfectly aligned)."""
    if ideal is None:
        return None
    steps = [t for t, source in enumerate(ideal) if source >= 0 and t < attention.shape[0]]
    if not steps:
        return None
    return float(np.mean([attention[t, ideal[t]] for t in steps]))


def position_accuracy(bundle: ModelBundle, examples: int = 1000, seed: int = 5) -> list[dict]:
    """Accuracy at each output position, teacher-forced vs free-running, on fresh examples.

    Teacher-forced, every step starts from the truth, so each position is judged on its own; free-running, one
    wrong symbol becomes the next step's input and errors compound along the sequence.
    """
    from explorer.decoding import greedy_decode, teacher_forced_decode

    task = get_task(bundle.config.task.name)
    batch = task.make_batch(bundle.config.task, examples, np.random.default_rng(9_000 + seed))
    forced = teacher_forced_decode(bundle, batch.encoder_inputs, batch.targets).tokens
    free = greedy_decode(bundle, batch.encoder_inputs).tokens
    rows = []
    for mode, tokens in (("teacher-forced", forced), ("free-running", free)):
        correct = tokens == batch.targets
        prefix = np.cumprod(correct, axis=1)
        for position in range(batch.targets.shape[1]):
            rows.append(
                {
                    "mode": mode,
                    "position": position + 1,
                    "accuracy": float(correct[:, position].mean()),
                    "all correct so far": float(prefix[:, position].mean()),
                }
            )
    return rows


def first_divergence(forced_tokens: np.ndarray, free_tokens: np.ndarray) -> int | None:
    """0-based first output step where the two decodes disagree, or None."""
    differ = np.flatnonzero(np.asarray(forced_tokens) != np.asarray(free_tokens))
    return int(differ[0]) if differ.size else None


def needs_lookahead(config: RunConfig, samples: int = 64) -> bool:
    """Whether some output step must read an input step that comes *after* it (by the task's ideal alignment).

    A stacked network writes output t right after reading input t, so on such a task it can only guess: count-up's
    first output depends on the last input, sort's on wherever the smallest symbol is.
    """
    task = get_task(config.task.name)
    if task.values != "tokens":
        return False
    for source in task.make_batch(config.task, samples, np.random.default_rng(11)).encoder_inputs:
        alignment = task.ideal_alignment(config.task, source)
        if alignment is not None and any(read > step for step, read in enumerate(alignment)):
            return True
    return False


def output_changes_from(bundle: ModelBundle, encoder_inputs: np.ndarray, step: int) -> np.ndarray:
    """For each output step, whether its distribution moves when input `step` (0-based) is changed.

    Decodes the inputs as given and with the symbol at `step` replaced, and compares the free-running output
    probabilities: (target_length,) booleans. It shows what an output can depend on: a stacked network's outputs
    before `step` never move, because they were written before that input was read.
    """
    from explorer.decoding import greedy_decode

    encoder_inputs = np.asarray(encoder_inputs)
    changed = encoder_inputs.copy()
    cardinality = bundle.config.task.cardinality
    changed[:, step] = changed[:, step] % cardinality + 1  # another valid symbol
    before = greedy_decode(bundle, encoder_inputs).probabilities
    after = greedy_decode(bundle, changed).probabilities
    return np.abs(after - before).max(axis=(0, 2)) > 1e-6


@dataclasses.dataclass(frozen=True)
class DivergenceSearch:
    """What `find_divergence` found among `tried` fresh inputs: how many make the teacher-forced and the
    free-running decodes disagree, and the first of them (`source` (input_length,), `step` 0-based) or None."""

    tried: int
    diverging: int
    source: np.ndarray | None = None
    step: int | None = None


def find_divergence(bundle: ModelBundle, tries: int = 1000, seed: int = 0) -> DivergenceSearch:
    """Search `tries` fresh inputs, decoded both ways in one batch each, for one where the decodes diverge.

    A good model agrees with itself on almost every input: free running only drifts once a mistake is read back.
    Models that never read their own outputs (stacked, RepeatVector) never diverge.
    """
    from explorer.decoding import greedy_decode, teacher_forced_decode

    task = get_task(bundle.config.task.name)
    batch = task.make_batch(bundle.config.task, tries, np.random.default_rng(seed))
    forced = teacher_forced_decode(bundle, batch.encoder_inputs, batch.targets).tokens
    free = greedy_decode(bundle, batch.encoder_inputs).tokens
    rows = np.flatnonzero(np.any(forced != free, axis=1))
    if not rows.size:
        return DivergenceSearch(tried=tries, diverging=0)
    row = int(rows[0])
    return DivergenceSearch(
        tried=tries,
        diverging=int(rows.size),
        source=batch.encoder_inputs[row],
        step=first_divergence(forced[row], free[row]),
    )
