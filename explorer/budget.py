"""What a training run will cost before it starts, and the server's limit on that cost. Keras-free.

A hosted server trains one model at a time for a whole class (`explorer.jobs`), so a single request for a huge
run (length 60, 256 units, 200 epochs) would make everyone else's queue behind hours of training. The job
manager therefore refuses, before anything queues, a run whose *estimated* seconds exceed a budget:
`SEQ2SEQ_TRAIN_BUDGET_S` (default `DEFAULT_BUDGET_S`; `0` or `off` lifts the limit).

`estimate_seconds(config)` is a small cost model of `explorer.training.train`, which for every epoch fits
`samples_per_epoch` fresh examples in batches and then decodes `eval_examples` free-running. `cost_terms`
counts what a run does (with `steps` = input length + output length, the time steps the encoder and decoder
unroll, and `layers` doubled for a bidirectional encoder); the estimate is each count times its seconds in
`COEFFICIENTS`:

    setup                  1                                                  building, compiling, final evaluation
    batch_steps            epochs * ceil(samples / batch) * steps * layers    per-batch dispatch, any batch size
    train_sample_steps     epochs * samples * steps * layers * width          the arithmetic of training
    evaluation_steps       (epochs + 1) * steps * layers                      per-evaluation dispatch
    evaluation_sample_steps (epochs + 1) * eval * steps * layers * width     the arithmetic of decoding
    attention_steps        (batches + epochs + 1) * output * layers           attention per decoder step (if any)
    gradient_probe_steps   min(60, batches) * steps * layers                  recorded gradients (eager, per probe)

An attention decoder scores every input step at every output step, which the other terms do not count. At the
lengths we teach with, one step's scores are one vectorised operation whatever the input length, so the term
counts decoder steps: counted per (output, input) pair, it priced the 18-character dates task at 8-11 times its
measured time.
`width` = 1 + (units / UNIT_SCALE)^2: a step's arithmetic grows with the square of the units (the recurrent
matrix products) above a floor, below which it is mostly fixed cost whatever the width. `epochs` is the
configured upper bound, so the estimate is for a run that never stops early at its target accuracy. The
coefficients are fitted by `scripts/calibrate_budget.py` on the project's 2-core machine (its figures are in
the README); they are rough on purpose: the budget exists to refuse runs tens of times too large, not to predict
a run to the second.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from explorer.architectures import ARCHITECTURES
from explorer.config import RunConfig

BUDGET_ENV = "SEQ2SEQ_TRAIN_BUDGET_S"
# Ten times the slowest shipped run's estimate (about 33 s), and short beside a lesson: five minutes is the
# longest one request may hold the queue that the whole class shares.
DEFAULT_BUDGET_S = 300.0

# Seconds per unit of each of `cost_terms`' counts, fitted by `scripts/calibrate_budget.py` (module docstring).
# Decoding's arithmetic came out at zero: 8,000 evaluation examples cost no more than 100 at the sizes measured
# (a compiled, batched decode), so evaluating costs its per-step dispatch only.
COEFFICIENTS = {
    "setup": 1.06,
    "batch_steps": 5.22e-4,
    "train_sample_steps": 1.48e-6,
    "evaluation_steps": 1.29e-2,
    "evaluation_sample_steps": 0.0,
    "attention_steps": 1.5e-3,  # set by hand against the shipped runs when the term changed (see above)
    "gradient_probe_steps": 9.2e-4,
}
UNIT_SCALE = 64.0  # the width below which a step's arithmetic is mostly fixed cost
GRADIENT_PROBES = 60  # how many times `train` measures the gradients over a run, at most


def cost_terms(config: RunConfig) -> dict[str, float]:
    """What training `config` for all its epochs does, counted in the units `COEFFICIENTS` prices."""
    train = config.train
    steps = (config.task.input_length + config.task.output_length) * config.model.layers
    steps *= 2 if config.model.bidirectional else 1
    width = 1.0 + (config.model.units / UNIT_SCALE) ** 2
    batches = train.epochs * math.ceil(train.samples_per_epoch / train.batch_size)
    evaluations = train.epochs + 1
    scores = config.task.output_length * config.model.layers
    return {
        "setup": 1.0,
        "batch_steps": float(batches * steps),
        "train_sample_steps": train.epochs * train.samples_per_epoch * steps * width,
        "evaluation_steps": float(evaluations * steps),
        "evaluation_sample_steps": evaluations * train.eval_examples * steps * width,
        "attention_steps": float((batches + evaluations) * scores)
        if ARCHITECTURES[config.model.arch].has_attention
        else 0.0,
        "gradient_probe_steps": float(min(GRADIENT_PROBES, batches) * steps) if train.record_gradients else 0.0,
    }


def estimate_seconds(config: RunConfig) -> float:
    """Estimated seconds to train `config` for all its epochs on the calibration machine (see module docstring)."""
    return sum(COEFFICIENTS[name] * count for name, count in cost_terms(config).items())


def budget_seconds(environ: Mapping[str, str] | None = None) -> float | None:
    """The training budget in estimated seconds: `$SEQ2SEQ_TRAIN_BUDGET_S`, else the default; None for no limit.

    `0`, `off` or `none` lift the limit; a value that is not a number falls back to the default, so a typo
    never leaves a shared server without one.
    """
    text = (environ if environ is not None else os.environ).get(BUDGET_ENV, "").strip().lower()
    if text in ("0", "off", "none"):
        return None
    try:
        value = float(text) if text else DEFAULT_BUDGET_S
    except ValueError:
        return DEFAULT_BUDGET_S
    return value if value > 0 and math.isfinite(value) else DEFAULT_BUDGET_S


def epochs_within(config: RunConfig, budget_s: float) -> int:
    """The most epochs of `config` whose estimate fits in `budget_s` (0 when not even one does)."""
    one = estimate_seconds(config.replace(train={"epochs": 1}))
    two = estimate_seconds(config.replace(train={"epochs": 2}))
    per_epoch, fixed = two - one, 2 * one - two
    return max(0, min(config.train.epochs, math.floor((budget_s - fixed) / per_epoch)))


def over_budget(config: RunConfig, budget_s: float | None) -> str | None:
    """Why `config` may not be trained under `budget_s`, in words naming the limit and the estimate; None if it may."""
    if budget_s is None:
        return None
    estimate = estimate_seconds(config)
    if estimate <= budget_s:
        return None
    fits = epochs_within(config, budget_s)
    advice = f"At most {fits} epoch(s) of it fit; or" if fits else "Not even one epoch of it fits:"
    return (
        f"Not trained: this run is estimated at about {estimate:,.0f} s of training, over this server's budget of "
        f"{budget_s:,.0f} s per run ({BUDGET_ENV}): one run this long would hold up everyone else's training. "
        f"{advice} fewer units, fewer samples per epoch or shorter sequences bring it under."
    )
