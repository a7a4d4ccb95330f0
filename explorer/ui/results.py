"""What the pages compute on a loaded model, cached for every session: the library's functions under `per_model`.

A class opens the same shipped model on the same sample input thirty times. Through these, the model runs for
the first of them; every later visit, by anyone, reads the result (models are told apart by `_model_token`, inputs
by value). A page that runs a model does it through this module, or through `per_model` itself.
"""

from __future__ import annotations

import numpy as np

from explorer.decoding import (
    BeamResult,
    Samples,
    Trace,
    beam_search,
    greedy_decode,
    sample_decode,
    teacher_forced_decode,
)
from explorer.networks import ModelBundle
from explorer.probe import Probe, probe
from explorer.ui.models import per_model

# One entry per model and input: a class's typed sequences on a few models.
ENTRIES = 256


@per_model(max_entries=ENTRIES)
def free_running(bundle: ModelBundle, encoder_inputs: np.ndarray) -> Trace:
    """`greedy_decode`: every step reads the decoder's own previous prediction."""
    return greedy_decode(bundle, encoder_inputs)


@per_model(max_entries=ENTRIES)
def teacher_forced(bundle: ModelBundle, encoder_inputs: np.ndarray, targets: np.ndarray) -> Trace:
    """`teacher_forced_decode`: every step reads the true previous symbol."""
    return teacher_forced_decode(bundle, encoder_inputs, targets)


@per_model(max_entries=ENTRIES)
def beam(bundle: ModelBundle, encoder_input: np.ndarray, width: int) -> BeamResult:
    """`beam_search` of one input sequence."""
    return beam_search(bundle, encoder_input, width=width)


@per_model(max_entries=ENTRIES)
def traced(bundle: ModelBundle, encoder_inputs: np.ndarray) -> Probe:
    """`probe`: every recurrent layer's states and gates, the decoder running free."""
    return probe(bundle, encoder_inputs)


@per_model(max_entries=ENTRIES)
def training_outputs(bundle: ModelBundle, inputs: np.ndarray) -> list[np.ndarray]:
    """The training model's outputs for a batch, one array per head (a series autoencoder's reconstruction and
    prediction; a token model's (batch, T_out, vocab) probabilities)."""
    return _as_list(bundle.training_model.predict_on_batch(inputs))


@per_model(max_entries=ENTRIES)
def encoder_outputs(bundle: ModelBundle, encoder_inputs: np.ndarray) -> list[np.ndarray]:
    """The inference encoder's outputs for a batch: `[memory (batch, T_in, units), *final states]`."""
    return _as_list(bundle.encoder.predict_on_batch(encoder_inputs))


@per_model(max_entries=ENTRIES)
def sampled(
    bundle: ModelBundle,
    source: np.ndarray,
    samples: int,
    temperature: float,
    top_k: int | None,
    top_p: float,
    seed: int,
) -> Samples:
    """`sample_decode` of one input (a seeded draw, so the same arguments give the same samples to everyone)."""
    return sample_decode(bundle, source, samples, temperature, top_k, top_p, seed)


@per_model(max_entries=ENTRIES)
def input_saliency(bundle: ModelBundle, source: np.ndarray) -> np.ndarray:
    """`explorer.saliency.saliency` of one token input: (target_length, input_length) gradient norms."""
    from explorer.saliency import saliency

    return saliency(bundle, source)


def _as_list(outputs) -> list[np.ndarray]:
    """A Keras model's outputs as a list of arrays, whether it has one output or several."""
    return [np.asarray(output) for output in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


@per_model("Probing the unit on generated inputs…", max_entries=8)
def traced_batch(bundle: ModelBundle, size: int, seed: int):
    """`probe` of `size` inputs from the task's generator (`make_batch` with `seed`), for the unit pattern search:
    returns (the batch, its probe). A teacher-forced decoder reads the true previous symbols, so the decoder's
    steps line up with the task's targets."""
    from explorer.tasks import make_batch

    batch = make_batch(bundle.config.task, size, seed=seed)
    return batch, probe(bundle, batch.encoder_inputs, batch.decoder_inputs if bundle.uses_decoder_inputs else None)


@per_model(max_entries=ENTRIES)
def intervention_outcome(bundle: ModelBundle, source: np.ndarray, intervention):
    """`explorer.interventions.intervene`: one input decoded before and after one intervention."""
    from explorer.interventions import intervene

    return intervene(bundle, source, intervention)
