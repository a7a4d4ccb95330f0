"""Decoding: teacher-forced vs free-running, how errors compound, beam search, and scheduled sampling."""

import numpy as np
import pandas as pd
import streamlit as st

from explorer.analysis import find_divergence, first_divergence, position_accuracy
from explorer.decoding import top_candidates
from explorer.facts import Pattern
from explorer.graphs import beam_dot
from explorer.jobs import DONE
from explorer.presets import SHOWCASE_SCHEDULE, default_config, scheduled_config
from explorer.tasks import get_task
from explorer.ui.figures import chart_with_downloads, code_expander, dot_with_download
from explorer.ui.inputs import format_sequence, sequence_input, set_sequence, step_cursor, url_choice, url_number
from explorer.ui.locks import locked
from explorer.ui.models import (
    UNFINISHED,
    lookup_job,
    model_job,
    per_model,
    require_model,
    require_symbols,
    start_training,
    watch_jobs,
)
from explorer.ui.picker import current_config
from explorer.ui.replay import diverging_epoch_offer, replay_bundle
from explorer.ui.results import beam, free_running, sampled, teacher_forced
from explorer.viz import (
    decode_steps_frame,
    history_frame,
    position_accuracy_chart,
    samples_frame,
    top_candidates_frame,
    training_curves_chart,
)

st.title("Decoding")
st.write(
    "A decoder trained with **teacher forcing** always reads the true previous symbol. At inference there is no "
    "truth to read: the decoder runs **free**, reading its own previous prediction, so one mistake feeds the "
    "next step. Here both run on the same input, side by side."
)
config = current_config()
task = get_task(config.task.name)
require_symbols(task, "decoding choices")
bundle, epoch = replay_bundle(config, require_model(config))
source = sequence_input(config)
targets = task.targets_for(config.task, source[None])
forced = teacher_forced(bundle, source[None], targets)
free = free_running(bundle, source[None])
step = step_cursor(targets.shape[1])
table = decode_steps_frame(targets[0], forced, free, task.symbol)
divergence = first_divergence(forced.tokens[0], free.tokens[0])


def _mark(row):
    colour = "background-color: #fde0c5" if divergence is not None and row.name == divergence else ""
    if row.name == step - 1:
        colour = "background-color: #f8d0d0"
    return [colour] * len(row)


st.dataframe(table.style.apply(_mark, axis=1).format(precision=3), hide_index=True)
if bundle.pattern is not Pattern.RECURSIVE:
    st.caption(f"{config.model.arch} never reads its own outputs, so both columns are the same computation.")
elif divergence is None:
    earlier = "go back to an earlier epoch of training, " if model_job(config).snapshots else ""
    st.success(
        "Both decodes agree at every step for this input. Search fresh inputs for one where they do not, "
        f"{earlier}or pick a weaker model (fewer units or epochs) in the sidebar."
    )
else:
    st.warning(
        f"The two decodes first differ at step {divergence + 1}: from there on the free-running decoder "
        "reads its own mistake."
    )
if bundle.pattern is Pattern.RECURSIVE:
    diverging_epoch_offer(config, source, agree=divergence is None, epoch=epoch)

DIVERGENCE_TRIES = 1000


def _search_divergence(config, epoch) -> None:
    """Button callback: put the first of many fresh inputs on which the decodes diverge in the box (it runs
    before the page, so the box can still be changed), and leave what the search found for the page to say.
    It is given the configuration and the replay epoch shown (None: the final model), not the model: a session
    keeps a button's arguments, and with them the model, for as long as it lives, which would hold the model past
    the memory budget."""
    job = model_job(config)
    bundle = job.bundle if epoch is None else job.snapshot_bundle(epoch)
    if bundle is None:
        return
    seed = int(np.random.default_rng().integers(2**31))
    found = find_divergence(bundle, DIVERGENCE_TRIES, seed=seed)
    if found.source is not None:
        set_sequence(format_sequence(config, found.source))
    st.session_state["divergence_found"] = (found.tried, found.diverging)


if bundle.pattern is Pattern.RECURSIVE:
    st.button(
        f"Find an input where they diverge (searches {DIVERGENCE_TRIES:,})",
        key="find_divergence",
        disabled=locked("controls"),
        on_click=_search_divergence,
        args=(config, epoch),
    )
    if "divergence_found" in st.session_state:
        tried, diverging = st.session_state.pop("divergence_found")
        if diverging:
            st.info(f"{diverging:,} of {tried:,} fresh inputs make the two decodes diverge; the box holds the first.")
        else:
            st.info(
                f"None of {tried:,} fresh inputs makes the two decodes diverge: this model's free-running decode "
                "agrees with its teacher-forced one on every one of them. A weaker model (fewer units or epochs, "
                "or an earlier epoch of training) makes mistakes that free running then reads back."
            )

st.subheader("How errors compound, over 1,000 fresh examples")


positions = pd.DataFrame(per_model("Decoding 1,000 examples both ways…", 32)(position_accuracy)(bundle))
chart_with_downloads(
    position_accuracy_chart(positions),
    positions,
    f"positions-{config.key()}",
    key="positions",
    caption="Solid: accuracy of each position; dashed: share of sequences still right up to that position.",
)

st.subheader("Beam search")
width = url_choice(st.select_slider, "Beam width", [1, 2, 3, 4, 5, 8], key="beam", default=3)
result = beam(bundle, source, width)
best_tokens, score = result.sequences[0]
same = best_tokens == free.tokens[0].tolist()
best, greedy = task.format_sequence(config.task, best_tokens), task.format_sequence(config.task, free.tokens[0])
dot_with_download(
    beam_dot(result, width, symbol=task.symbol),
    f"beam-{width}",
    key="beam",
    caption=f"Best: **{best}** (log probability {score:.3f}); greedy: **{greedy}**"
    + (" — the same." if same else " — beam search found a more probable sequence."),
)

st.subheader("The k most likely symbols, and sampling")
st.write(
    "Greedy decoding keeps only the most likely symbol at each step, but the model gives every symbol a "
    "probability. Below, each step's runners-up; then sequences *drawn* from those probabilities instead of "
    "picked. **Temperature** below 1 sharpens the distribution towards the greedy choice, above 1 flattens it; "
    "**top-k** draws only among the k most likely symbols; **top-p** among the fewest most likely ones whose "
    "probabilities add up to p. A recursive decoder reads what it drew, so one unlikely draw changes what follows."
)
shown_k = url_choice(st.select_slider, "Candidates shown per step", [2, 3, 5, 10], key="top_shown", default=3)
symbols, chances = top_candidates(free.probabilities[0], shown_k)
st.dataframe(
    top_candidates_frame(symbols, chances, task.symbol),
    hide_index=True,
    column_config={"step": st.column_config.NumberColumn(width="small")},
)
st.caption(
    "Each step of the free-running decode: the symbols the model rated most likely there, with their probability."
)
left, middle, right = st.columns(3)
with left:
    temperature = url_choice(
        st.select_slider, "Temperature", [0.1, 0.5, 0.8, 1.0, 1.5, 2.0, 3.0], key="temperature", default=1.0
    )
with middle:
    top_k = url_choice(
        st.select_slider,
        "Top-k",
        [None, 1, 2, 3, 5, 10],
        key="top_k",
        default=None,
        format_func=lambda k: "all" if k is None else str(k),
    )
with right:
    top_p = url_choice(st.select_slider, "Top-p", [0.5, 0.8, 0.9, 0.95, 1.0], key="top_p", default=1.0)
count_column, seed_column = st.columns(2)
with count_column:
    count = url_number("Samples", 1, 32, key="samples", default=8)
with seed_column:
    seed = url_number(
        "Sampling seed", 0, 9999, key="sample_seed", default=0, help="The same seed draws the same samples."
    )
drawn = sampled(bundle, source, count, temperature, top_k, top_p, seed)
greedy_log = float(np.log(np.maximum(free.confidence[0], 1e-30)).sum())
st.dataframe(
    samples_frame(
        drawn,
        lambda tokens: task.format_sequence(config.task, tokens),
        free.tokens[0],
        greedy_log,
        (best_tokens, score),
    ),
    hide_index=True,
)
st.caption(
    f"{drawn.distinct} distinct sequence(s) among {count} samples. Log probability: under the model itself, "
    "whatever the sampling settings; the greedy sequence is the most likely path step by step, the best beam the "
    "most likely one the beam found."
)

if bundle.pattern is Pattern.RECURSIVE:
    st.subheader("Scheduled sampling")
    st.write(
        "Scheduled sampling trains on a mix: at each step, with a probability that falls over the epochs, the "
        "decoder reads the truth, otherwise its own prediction, so it learns to recover from its mistakes."
    )
    st.caption(
        "It is no free gain. Early in training the model's own predictions are mostly wrong, so the decoder is "
        "fed noise exactly while it should be learning the task; within a fixed budget that can leave it far "
        "behind: echo with the inverse-sigmoid schedule reached 6.7% against 90.8% with pure teacher forcing in "
        "the same 10 epochs (`python -m explorer train --task echo --arch teacher-forcing --set "
        "teacher_forcing=inverse-sigmoid`, then without the `--set`). It pays when the model is already good and "
        "inference inputs drift from training."
    )
    pure = default_config(config.task.name, config.model.arch)
    variants = {
        "pure teacher forcing": pure,
        f"scheduled sampling ({SHOWCASE_SCHEDULE.replace('-', ' ')})": scheduled_config(pure),
    }
    jobs = {name: lookup_job(run) for name, run in variants.items()}
    # Live progress for the runs under way; the section fills in by itself as each one finishes.
    watch_jobs(jobs)
    missing = [name for name, job in jobs.items() if job.state != DONE and job.state not in UNFINISHED]
    if missing:
        st.caption(f"Not trained yet: {', '.join(missing)}.")
        if st.button("Train them in the background", key="train_schedules", disabled=locked("training")):
            start_training(variants[name] for name in missing)
            st.rerun()
    done = {name: job for name, job in jobs.items() if job.state == DONE}
    if done:
        curves = history_frame({name: job.history for name, job in done.items()})
        chart_with_downloads(
            training_curves_chart(curves, "Pure teacher forcing vs scheduled sampling"),
            curves,
            f"schedules-{config.task.name}",
            key="schedules",
        )
        cols = st.columns(len(done))
        for column, (name, job) in zip(cols, done.items(), strict=True):
            column.metric(f"Free-running accuracy, {name}", f"{job.metrics.get('sequence_accuracy', 0):.1%}")
code_expander("decoding", config, source=source, width=width)
