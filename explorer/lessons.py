"""Guided lessons: data, not code. A lesson is a list of steps; each step names a page, a configuration and the
page's controls (together: a link), says in a few sentences what to look at, asks for one thing to do or predict,
and names the condition that completes it.

Conditions, a prediction's choices and its answer are *rules*: a name from one of three small registries
(`CHECKS`, `CHOICES`, `ANSWERS`) with arguments, so a lesson stays plain data that `python -m explorer lessons
--json` can list and a test can walk. A rule is evaluated on an `Observation` (the page the learner is on, the
picked configuration and the page's URL parameters after the page ran, the learner's prediction) and a `Lab`,
through which it reaches the model: the app's lab reads the results every session shares, `DirectLab` calls the
library (tests, the CLI).

Progress lives in the URL: `lesson=<id>&lstep=<n>` (1-based), beside the step's page and parameters, so "lesson
3, step 2" is a link (`step_url`). Nothing here imports Streamlit or Keras; the rules that need a model import
what they use when called.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

import numpy as np

from explorer.config import RunConfig
from explorer.presets import default_config, gradient_configs
from explorer.tasks import SAMPLE_SEED, TASKS, format_sequence, get_task, make_batch, parse_sequence

if TYPE_CHECKING:
    from explorer.decoding import Trace
    from explorer.networks import ModelBundle

# URL parameters of a lesson's progress.
LESSON_PARAM = "lesson"
STEP_PARAM = "lstep"


# --- Rules ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """A named rule and its arguments, e.g. `Rule("param_is", (("name", "reads"), ("value", "training")))`."""

    name: str
    args: tuple[tuple[str, Any], ...] = ()

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.args)

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.name, **self.kwargs}


def rule(rule_name: str, /, **args: Any) -> Rule:
    return Rule(rule_name, tuple(sorted(args.items())))


@dataclass(frozen=True)
class Prediction:
    """A question asked before the page is shown: the learner (or a class) answers, then the page reveals."""

    prompt: str
    choices: Rule  # a rule of CHOICES: the labels to pick from
    answer: Rule  # a rule of ANSWERS: the model's (or the task's) answer, one of the choices
    explanation: str  # one or two sentences shown with the answer: where on the page to see it


@dataclass(frozen=True)
class Step:
    """One step of a lesson: where (page, task, architecture, settings, controls), what, and when it is done."""

    title: str
    page: str  # a page registry name (explorer.ui.pages)
    task: str
    arch: str
    explain: str
    do: str
    done_when: Rule  # a rule of CHECKS
    settings: tuple[tuple[str, Any], ...] = ()  # configuration overrides, as `default_config` takes them
    controls: tuple[tuple[str, str], ...] = ()  # the page's own URL parameters (cursor, choices)
    predict: Prediction | None = None
    published: bool = False  # the tutorial published a figure for this task and architecture: show it beside ours
    sample: bool = True  # open with the shared sample input in the box (`seq`)
    text: str | None = None  # open with this input instead of the shared sample (as typed in the box)

    @cached_property
    def config(self) -> RunConfig:
        return default_config(self.task, self.arch, **dict(self.settings))

    @cached_property
    def source_text(self) -> str | None:
        """The input the step opens with, as typed in the box; None for a step that shows no input."""
        if not self.sample:
            return None
        return self.text if self.text is not None else sample_text(self.config)

    def params(self) -> dict[str, str]:
        """The page's URL parameters of this step: the configuration, the input and the controls."""
        from explorer.urlstate import params_from_config

        params = params_from_config(self.config)
        if self.source_text is not None:
            params["seq"] = self.source_text
        params.update(dict(self.controls))
        return params


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    summary: str
    steps: tuple[Step, ...] = field(default_factory=tuple)


def sample_text(config: RunConfig, seed: int = SAMPLE_SEED) -> str:
    """A valid input for `config`'s task as a student would type it (the pages' first sample)."""
    return format_sequence(config.task, make_batch(config.task, 1, seed=seed).encoder_inputs[0])


# --- What a rule sees ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """What the learner has in front of them after the page ran."""

    step: Step
    page: str
    config: RunConfig
    params: Mapping[str, str]  # the URL's parameters
    answer: str | None = None  # the learner's prediction for this step, once made

    @property
    def on_step(self) -> bool:
        """Whether the learner is on the step's page, with the step's task and architecture."""
        return (
            self.page == self.step.page
            and self.config.task.name == self.step.task
            and self.config.model.arch == self.step.arch
        )

    def source(self) -> np.ndarray:
        """The typed input (1-D), or the step's own sample when the box holds nothing valid."""
        text = self.params.get("seq") or self.step.source_text or sample_text(self.config)
        try:
            return parse_sequence(text, self.config.task)
        except ValueError:
            return parse_sequence(sample_text(self.config), self.config.task)


class Lab(Protocol):
    """How a rule reaches models: the bundle of a configuration (at a replay epoch when asked) and what it does."""

    def bundle(self, config: RunConfig, epoch: str | None = None) -> ModelBundle | None: ...

    def free_running(self, bundle: ModelBundle, encoder_inputs: np.ndarray) -> Trace: ...

    def teacher_forced(self, bundle: ModelBundle, encoder_inputs: np.ndarray, targets: np.ndarray) -> Trace: ...

    def outputs(self, bundle: ModelBundle, inputs: np.ndarray) -> list[np.ndarray]: ...

    def gradients(self, bundle: ModelBundle, inputs: np.ndarray, targets: np.ndarray) -> dict[str, np.ndarray]: ...

    def sidecar(self, config: RunConfig) -> dict[str, Any] | None: ...


class DirectLab:
    """A `Lab` that calls the library: models from a `ModelStore`, nothing cached beyond the loaded bundles."""

    def __init__(self, store=None) -> None:
        from explorer.cache import ModelStore

        self.store = store or ModelStore()
        self._bundles: dict[tuple[str, str | None], ModelBundle] = {}

    def bundle(self, config: RunConfig, epoch: str | None = None) -> ModelBundle | None:
        key = (config.key(), epoch)
        if key not in self._bundles:
            found = self.store.lookup(config)
            if found is None:
                return None
            self._bundles[key] = found.load() if epoch in (None, "", "final") else found.load_snapshot(epoch)
        return self._bundles[key]

    def free_running(self, bundle, encoder_inputs):
        from explorer.decoding import greedy_decode

        return greedy_decode(bundle, encoder_inputs)

    def teacher_forced(self, bundle, encoder_inputs, targets):
        from explorer.decoding import teacher_forced_decode

        return teacher_forced_decode(bundle, encoder_inputs, targets)

    def outputs(self, bundle, inputs):
        outputs = bundle.training_model.predict_on_batch(inputs)
        return [np.asarray(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]

    def gradients(self, bundle, inputs, targets):
        from explorer.analysis import step_gradients

        return step_gradients(bundle, inputs, bundle.model_targets(targets))

    def sidecar(self, config):
        found = self.store.lookup(config)
        return None if found is None else found.sidecar


def _model_inputs(config: RunConfig, source: np.ndarray) -> np.ndarray:
    """One typed sequence as a batch of one, the way the task's models take it."""
    return source[None] if get_task(config.task.name).values == "tokens" else source[None, :, None]


def _decodes(observation: Observation, lab: Lab) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(targets, teacher-forced tokens, free-running tokens) of the typed input on the picked model, or None."""
    config = observation.config
    if get_task(config.task.name).values != "tokens":
        return None
    bundle = lab.bundle(config, observation.params.get("epoch"))
    if bundle is None:
        return None
    source = observation.source()
    targets = get_task(config.task.name).targets_for(config.task, source[None])
    forced = lab.teacher_forced(bundle, source[None], targets).tokens[0]
    free = lab.free_running(bundle, source[None]).tokens[0]
    return targets[0], forced, free


# --- Checks: when a step is done ----------------------------------------------------------------------------------

Check = Callable[..., bool]
CHECKS: dict[str, Check] = {}


def _check(function: Check) -> Check:
    CHECKS[function.__name__] = function
    return function


@_check
def predicted(observation: Observation, lab: Lab) -> bool:
    """The learner made the step's prediction (the page then reveals the answer)."""
    return observation.answer is not None


@_check
def kind_is(observation: Observation, lab: Lab, kind: str) -> bool:
    """The picked task is of the given kind of sequence problem."""
    return TASKS[observation.config.task.name].kind == kind


@_check
def param_is(observation: Observation, lab: Lab, name: str, value: str) -> bool:
    """On the step's page, the URL parameter `name` (a control) reads `value`."""
    return observation.on_step and observation.params.get(name) == value


@_check
def param_has(observation: Observation, lab: Lab, name: str, text: str) -> bool:
    """On the step's page, the URL parameter `name` contains `text` (a choice labelled by its role)."""
    return observation.on_step and text in observation.params.get(name, "")


@_check
def param_changed(observation: Observation, lab: Lab, name: str, default: str = "") -> bool:
    """On the step's page, the control `name` moved from where the step opened it."""
    opened = dict(observation.step.controls).get(name, default)
    return observation.on_step and observation.params.get(name, default) != opened


@_check
def config_is(observation: Observation, lab: Lab, **fields: Any) -> bool:
    """The picked configuration has these values (task fields, model fields, training fields)."""
    config = observation.config
    for name, wanted in fields.items():
        section = next((s for s in (config.task, config.model, config.train) if hasattr(s, name)), None)
        if section is None or getattr(section, name) != wanted:
            return False
    return config.task.name == observation.step.task


@_check
def config_clipped(observation: Observation, lab: Lab) -> bool:
    """The picked configuration, on the step's task parameters, clips its gradients one way or another."""
    train = observation.config.train
    clipped = max(train.clipnorm, train.clipvalue, train.global_clipnorm) > 0
    return clipped and observation.config.task == observation.step.config.task


@_check
def sequence_changed(observation: Observation, lab: Lab) -> bool:
    """On the step's page, the learner typed an input of their own (the box parses to another sequence)."""
    if not observation.on_step or observation.step.source_text is None:
        return False
    opened = parse_sequence(observation.step.source_text, observation.config.task)
    return not np.array_equal(observation.source(), opened)


@_check
def decode_correct(observation: Observation, lab: Lab) -> bool:
    """On the step's page, an input of the learner's own that the model gets exactly right."""
    if not sequence_changed(observation, lab):
        return False
    decodes = _decodes(observation, lab)
    return decodes is not None and bool(np.array_equal(decodes[0], decodes[2]))


@_check
def decodes_diverge(observation: Observation, lab: Lab) -> bool:
    """On the step's page, an input on which the teacher-forced and the free-running decodes differ."""
    if not observation.on_step:
        return False
    decodes = _decodes(observation, lab)
    return decodes is not None and not np.array_equal(decodes[1], decodes[2])


@_check
def attention_off_ideal(observation: Observation, lab: Lab) -> bool:
    """On the step's page, the output-step cursor sits where the attention's strongest weight is not on the
    input step the task says to read (or where the task says to read none: a padding step)."""
    if not observation.on_step:
        return False
    config = observation.config
    bundle = lab.bundle(config, observation.params.get("epoch"))
    if bundle is None:
        return False
    source = observation.source()
    trace = lab.free_running(bundle, source[None])
    if trace.attention is None:
        return False
    weights = trace.attention[0]
    try:
        step = min(max(1, int(observation.params.get("step", "1"))), weights.shape[0])
    except ValueError:
        return False
    ideal = get_task(config.task.name).ideal_alignment(config.task, source)
    looked = int(weights[step - 1].argmax())
    return ideal is None or int(ideal[step - 1]) < 0 or looked != int(ideal[step - 1])


# --- Choices and answers of predictions -----------------------------------------------------------------------------

CHOICES: dict[str, Callable[..., tuple[str, ...]]] = {
    "input_steps": lambda step: tuple(str(i) for i in range(1, step.config.task.input_length + 1)),
    "yes_no": lambda step: ("yes", "no"),
    "options": lambda step, values: tuple(values),
    "gradient_runs": lambda step: tuple(gradient_configs()),
    "input_parts": lambda step: INPUT_PARTS,
}
# Thirds of the written input, for predictions about where in a text the model reads.
INPUT_PARTS = ("the start", "the middle", "the end")

Answer = Callable[..., str | None]
ANSWERS: dict[str, Answer] = {}


def _answer(function: Answer) -> Answer:
    ANSWERS[function.__name__] = function
    return function


@_answer
def value(step: Step, lab: Lab, value: str) -> str:
    """A fact of the architecture or the task, the same for every model (the explanation says why)."""
    return value


@_answer
def output_length(step: Step, lab: Lab) -> str:
    """How many steps the decoder writes for the step's configuration."""
    return str(get_task(step.task).target_length(step.config.task))


def _step_source(step: Step) -> np.ndarray:
    return parse_sequence(step.source_text or sample_text(step.config), step.config.task)


def _on_model(function: Callable[..., str | None]) -> Answer:
    """An answer computed on the step's model and the step's input (passed in as `bundle` and `source`): None while
    the model is not there. Registered in ANSWERS under the function's name."""

    @functools.wraps(function)
    def on_model(step: Step, lab: Lab, **args: Any) -> str | None:
        bundle = lab.bundle(step.config)
        if bundle is None:
            return None
        return function(step, lab, bundle, _step_source(step), **args)

    return _answer(on_model)


@_on_model
def attention_argmax(step: Step, lab: Lab, bundle, source: np.ndarray, output_step: int = 1) -> str | None:
    """The input step the model's attention weighs most at `output_step`, on the step's input."""
    trace = lab.free_running(bundle, source[None])
    return None if trace.attention is None else str(int(trace.attention[0, output_step - 1].argmax()) + 1)


@_on_model
def attention_part(step: Step, lab: Lab, bundle, source: np.ndarray, output_step: int = 1) -> str | None:
    """Which third of the written input (padding aside) the attention weighs most at `output_step`."""
    trace = lab.free_running(bundle, source[None])
    if trace.attention is None:
        return None
    written = max(1, int(np.count_nonzero(source)))
    looked = int(trace.attention[0, output_step - 1].argmax())
    return INPUT_PARTS[min(2, looked * 3 // written)]


@_on_model
def decode_matches(step: Step, lab: Lab, bundle, source: np.ndarray) -> str:
    """Whether the model's free-running decode of the step's input is exactly the target."""
    targets = get_task(step.task).targets_for(step.config.task, source[None])
    return "yes" if np.array_equal(lab.free_running(bundle, source[None]).tokens, targets) else "no"


@_on_model
def weakest_gradient(step: Step, lab: Lab, bundle, source: np.ndarray) -> str:
    """The input step whose loss gradient is smallest, on the step's input (backpropagation through time)."""
    inputs = _model_inputs(step.config, source)
    task = get_task(step.task)
    targets = task.targets_for(step.config.task, source[None]) if task.values == "tokens" else inputs
    norms = lab.gradients(bundle, inputs, targets)["encoder"]
    return str(int(np.argmin(norms)) + 1)


@_on_model
def reconstruction_close(step: Step, lab: Lab, bundle, source: np.ndarray, tolerance: float = 0.1) -> str:
    """Whether the autoencoder's reconstruction stays within `tolerance` of every input value."""
    reconstruction = lab.outputs(bundle, _model_inputs(step.config, source))[0][0, :, 0]
    return "yes" if float(np.abs(reconstruction - source).max()) <= tolerance else "no"


@_answer
def diverged_run(step: Step, lab: Lab) -> str | None:
    """The first of the Gradients page's runs whose loss became NaN, from what its stored model records."""
    for name, config in gradient_configs().items():
        sidecar = lab.sidecar(config)
        if sidecar is not None and sidecar.get("status") == "diverged":
            return name
    return None


def choices_for(step: Step) -> tuple[str, ...]:
    assert step.predict is not None
    return CHOICES[step.predict.choices.name](step, **step.predict.choices.kwargs)


def answer_for(step: Step, lab: Lab) -> str | None:
    """The answer to the step's prediction, computed on the model (None when the model is not there)."""
    assert step.predict is not None
    return ANSWERS[step.predict.answer.name](step, lab, **step.predict.answer.kwargs)


def is_done(observation: Observation, lab: Lab) -> bool:
    """Whether what the learner has in front of them completes the step."""
    done_when = observation.step.done_when
    try:
        return bool(CHECKS[done_when.name](observation, lab, **done_when.kwargs))
    except (ValueError, KeyError, IndexError):  # a hand-edited link the rule cannot read: not done
        return False


def published_figure(step: Step) -> float | None:
    """The tutorial's published exact-sequence accuracy for the step's task and architecture, if any."""
    published = TASKS[step.task].published.get(step.arch)
    return None if published is None else published.accuracy


# --- Links --------------------------------------------------------------------------------------------------------


def step_params(lesson: Lesson, index: int) -> dict[str, str]:
    """The URL parameters of step `index` (1-based) of `lesson`: its page's parameters and the progress."""
    return {**lesson.steps[index - 1].params(), LESSON_PARAM: lesson.id, STEP_PARAM: str(index)}


def step_url(lesson: Lesson, index: int) -> str:
    """The link to step `index` (1-based), relative to the app's root: "/attention?task=...&lesson=...&lstep=2"."""
    from explorer.ui.pages import page_entry

    return f"/{page_entry(lesson.steps[index - 1].page).url_path}?{urlencode(step_params(lesson, index))}"


def lesson_from_params(params: Mapping[str, str]) -> tuple[Lesson | None, int, str | None]:
    """The lesson and step (1-based) a link asks for, and what is wrong with it in plain words (or None)."""
    wanted = params.get(LESSON_PARAM)
    if not wanted:
        return None, 0, None
    lesson = LESSONS.get(wanted)
    if lesson is None:
        shown = wanted[:30]
        return None, 0, f"The link asks for a lesson called {shown!r}, which does not exist; choose one below."
    try:
        index = int(params.get(STEP_PARAM, "1"))
    except ValueError:
        return lesson, 1, "The link's lesson step is not a number; starting at step 1."
    if not 1 <= index <= len(lesson.steps):
        return lesson, min(max(1, index), len(lesson.steps)), f"This lesson has steps 1 to {len(lesson.steps)}."
    return lesson, index, None


def catalogue() -> list[dict[str, Any]]:
    """Every lesson with its steps and each step's link, as `python -m explorer lessons --json` prints it."""
    listed = []
    for lesson in LESSONS.values():
        steps = []
        for index, step in enumerate(lesson.steps, start=1):
            entry: dict[str, Any] = {
                "index": index,
                "title": step.title,
                "page": step.page,
                "task": step.task,
                "arch": step.arch,
                "url": step_url(lesson, index),
                "do": step.do,
                "done_when": step.done_when.as_dict(),
                "published_accuracy": published_figure(step) if step.published else None,
            }
            if step.predict is not None:
                entry["predict"] = {"prompt": step.predict.prompt, "choices": list(choices_for(step))}
            steps.append(entry)
        listed.append({"id": lesson.id, "title": lesson.title, "summary": lesson.summary, "steps": steps})
    return listed


# --- The lessons ----------------------------------------------------------------------------------------------------
# In our own words, from the facts of the five tutorials in ../shared/seeds. One lesson per topic; the task and
# architecture of each step are registry names, checked by the tests against the registries.

# The Gradients page's runs train a series autoencoder of their own (plain SGD at a high learning rate), whose
# settings a link cannot all carry; the lesson's steps open the shipped series autoencoder, and the page shows the
# four runs whatever the picked model.
_SERIES = next(name for name, task in TASKS.items() if task.values == "real")
_AUTOENCODER = TASKS[_SERIES].default_arch

LESSONS: dict[str, Lesson] = {
    lesson.id: lesson
    for lesson in (
        Lesson(
            "kinds",
            "The encoder-decoder idea and four kinds of sequence problem",
            "One network reads, another writes: the same pair solves prediction, classification, generation and "
            "sequence-to-sequence problems.",
            (
                Step(
                    "Four kinds of problem",
                    "home",
                    "reverse",
                    "teacher-forcing",
                    "An encoder reads the input one symbol per step and leaves what it read in its state; a decoder "
                    "starts from that state and writes. What changes from problem to problem is only what goes in "
                    "and what comes out: the next values of a series (prediction), one label for a whole sequence "
                    "(classification), a continuation (generation), or a new sequence (sequence-to-sequence).",
                    "Load a classification example: press a Try button under Classification.",
                    rule("kind_is", kind="classification"),
                    sample=False,
                ),
                Step(
                    "Reading five, writing two",
                    "graph",
                    "echo-partial",
                    "repeat-vector",
                    "The input and the output need not have the same length: the encoder's state is one vector "
                    "whatever the input's length, and the decoder runs for as many steps as the output needs.",
                    "Predict how many steps the decoder writes, then read the unrolled graph.",
                    rule("predicted"),
                    predict=Prediction(
                        "The encoder reads 5 symbols and the task keeps the first 2. How many steps does the "
                        "decoder run?",
                        rule("input_steps"),
                        rule("output_length"),
                        "The unrolled graph has one decoder cell per output step: count them.",
                    ),
                ),
                Step(
                    "Generation",
                    "graph",
                    "count-up",
                    "teacher-forcing",
                    "Count-up is generation: the decoder writes new symbols that continue from the last one read, "
                    "so every output depends on the final input step.",
                    "Move the output cursor to the last output step.",
                    rule("param_is", name="step", value="4"),
                ),
            ),
        ),
        Lesson(
            "echo",
            "Echo: remembering a sequence, whole or in part",
            "A stacked LSTM echoes what it reads; echoing only a part needs the encoder-decoder split.",
            (
                Step(
                    "Echo the whole sequence",
                    "decoding",
                    "echo",
                    "stacked-lstm",
                    "A stacked LSTM writes one output for every input step, so echoing is a matter of keeping the "
                    "symbol it just read. The tutorial echoed five random integers and reported a perfect score; "
                    "ours stands beside it.",
                    "Type five symbols of your own (1 to 99) and check that the model writes them back.",
                    rule("decode_correct"),
                    published=True,
                ),
                Step(
                    "Echo only the first two",
                    "decoding",
                    "echo-partial",
                    "repeat-vector",
                    "To write two outputs after reading five inputs, the encoder first reads everything into one "
                    "vector; RepeatVector hands that vector to each of the decoder's two steps. The tutorial's "
                    "partial echo reached a perfect score too.",
                    "Predict whether the model gets this input right, then see the decoded table.",
                    rule("predicted"),
                    predict=Prediction(
                        "Will the encoder-decoder echo the first two symbols of this input exactly?",
                        rule("yes_no"),
                        rule("decode_matches"),
                        "The table lists the target and both decodes, step by step.",
                    ),
                    published=True,
                ),
                Step(
                    "Your own input",
                    "decoding",
                    "echo-partial",
                    "repeat-vector",
                    "This decoder never reads what it wrote: both of its steps see the same repeated vector. So "
                    "the teacher-forced and free-running columns are one and the same computation.",
                    "Type an input of your own and check it is echoed.",
                    rule("decode_correct"),
                ),
            ),
        ),
        Lesson(
            "teacher-forcing",
            "Teacher forcing and inference models",
            "Training feeds the decoder the truth; inference feeds it its own guesses. Reversal shows both.",
            (
                Step(
                    "Training reads the truth",
                    "graph",
                    "reverse",
                    "teacher-forcing",
                    "The task: reverse the first three of six symbols. While training, each decoder step reads "
                    "the true previous output symbol, so one early mistake cannot spoil the rest of the sequence "
                    "(teacher forcing). That makes training fast and stable.",
                    "Switch the unrolled graph to what the decoder reads in training.",
                    rule("param_is", name="reads", value="the true previous symbol (teacher forcing, training)"),
                ),
                Step(
                    "Inference reads its own guesses",
                    "graph",
                    "reverse",
                    "teacher-forcing",
                    "At inference there is no truth to read. The same weights are split into an encoder model and a "
                    "one-step decoder model, which is called once per output step.",
                    "Predict what the decoder reads at step 2 when it runs on its own.",
                    rule("predicted"),
                    predict=Prediction(
                        "At inference, what does the decoder read at output step 2?",
                        rule(
                            "options",
                            values=("the true symbol", "its own output of step 1", "nothing: only the state"),
                        ),
                        rule("value", value="its own output of step 1"),
                        "The inference graph feeds each step's prediction into the next; the three models below "
                        "share one set of weights.",
                    ),
                ),
                Step(
                    "When the two disagree",
                    "decoding",
                    "reverse",
                    "teacher-forcing",
                    "A model that is right under teacher forcing can still go wrong on its own: once it reads its "
                    "own mistake, the following steps build on it. The tutorial's reversal model scored 100%; "
                    "ours is beside it, and an early epoch of training shows the mistakes the final model no "
                    "longer makes.",
                    "Find an input on which the teacher-forced and free-running decodes differ (an early training "
                    "epoch, or the search button, helps).",
                    rule("decodes_diverge"),
                    published=True,
                ),
            ),
        ),
        Lesson(
            "states",
            "Return sequences or return state",
            "Keras can hand back every step's hidden state, or only the last one with the cell state: the same "
            "numbers, seen two ways.",
            (
                Step(
                    "Two ways to ask for the state",
                    "states",
                    "reverse",
                    "teacher-forcing",
                    "`return_sequences=True` returns h at every step: a (batch, steps, units) array. "
                    "`return_state=True` returns the final h and c as well; the encoder-decoder hands them to the "
                    "decoder as its starting state.",
                    "Predict, then compare the table.",
                    rule("predicted"),
                    predict=Prediction(
                        "Is the encoder's returned state h the same as the last step of its returned sequence?",
                        rule("yes_no"),
                        rule("value", value="yes"),
                        "The table puts return_sequences[:, -1] beside return_state h: the same numbers (a "
                        "bidirectional encoder is the exception).",
                    ),
                ),
                Step(
                    "The last column",
                    "states",
                    "reverse",
                    "teacher-forcing",
                    "The heatmap shows h for every unit (rows) at every step (columns) of the chosen layer.",
                    "Move the time-step cursor to the encoder's last step, the column return_state keeps.",
                    rule("param_is", name="layer_step", value="6"),
                ),
                Step(
                    "The decoder's states",
                    "states",
                    "reverse",
                    "teacher-forcing",
                    "The decoder starts from the encoder's final states, and its own steps are output steps.",
                    "Choose the decoder layer in the Layer box.",
                    rule("param_has", name="layer", text="(decoder)"),
                ),
            ),
        ),
        Lesson(
            "bptt",
            "Unrolling and backpropagation through time",
            "A recurrent layer is one cell applied at every step; training sends the gradient back along the chain.",
            (
                Step(
                    "One cell, unrolled",
                    "graph",
                    "reverse",
                    "teacher-forcing",
                    "Unrolled, a recurrent layer is a chain of copies of one cell that share their weights, one per "
                    "step. The loss of every output flows back along that chain to every input step.",
                    "Move the output cursor to the last output step.",
                    rule("param_is", name="step", value="3"),
                ),
                Step(
                    "Where the gradient is weakest",
                    "graph",
                    "reverse",
                    "teacher-forcing",
                    "The backward graph labels each input step with the size of the loss gradient that reaches it. "
                    "Reversal needs the first three inputs and ignores the rest.",
                    "Predict which input step receives the smallest gradient, then read the backward graph.",
                    rule("predicted"),
                    predict=Prediction(
                        "Which input step receives the smallest loss gradient?",
                        rule("input_steps"),
                        rule("weakest_gradient"),
                        "The backward graph's input edges carry |∂L/∂x_t|; an input the outputs do not need gets "
                        "little.",
                    ),
                ),
            ),
        ),
        Lesson(
            "gradients",
            "Exploding gradients and clipping",
            "Over many steps, gradients can grow without bound; clipping caps each update.",
            (
                Step(
                    "Which run explodes?",
                    "gradients",
                    _SERIES,
                    _AUTOENCODER,
                    "Four runs on the same 30-step series, with the same seed and data, trained with plain SGD at a "
                    "high learning rate: a SimpleRNN with ReLU three ways, and an LSTM.",
                    "Predict which run's loss becomes NaN, then read the gradient norms.",
                    rule("predicted"),
                    sample=False,
                    predict=Prediction(
                        "Which run's loss becomes NaN?",
                        rule("gradient_runs"),
                        rule("diverged_run"),
                        "The run that stops is marked in red; its gradient norm climbs by orders of magnitude first.",
                    ),
                ),
                Step(
                    "Clip it",
                    "train",
                    _SERIES,
                    _AUTOENCODER,
                    "Clipping rescales a gradient whose norm is over a threshold (clipnorm), or caps each of its "
                    "entries (clipvalue), before the optimizer's step.",
                    "In the sidebar's Training settings, turn on gradient clipping.",
                    rule("config_clipped"),
                    sample=False,
                ),
            ),
        ),
        Lesson(
            "attention-global",
            "Global attention: Bahdanau and Luong",
            "Every output step scores every input step and reads a weighted mix of them.",
            (
                Step(
                    "Where will it look?",
                    "attention",
                    "copy-first-k",
                    "bahdanau",
                    "The task: copy the first two of five symbols, then pad with zeros. Without attention an "
                    "encoder-decoder reached 23.1% in the tutorial; with Bahdanau's additive attention, 95.7%. "
                    "Each output step scores every encoder output and takes a softmax of the scores.",
                    "Predict where output step 1 looks, then see the heatmap.",
                    rule("predicted"),
                    predict=Prediction(
                        "Which input step will output step 1 weigh most?",
                        rule("input_steps"),
                        rule("attention_argmax", output_step=1),
                        "Row 1 of the heatmap is output step 1's weights over the input; the darkest cell is the "
                        "answer.",
                    ),
                    published=True,
                ),
                Step(
                    "Leaving the diagonal",
                    "attention",
                    "copy-first-k",
                    "bahdanau",
                    "After the copied symbols the model writes padding, which depends on no input step: there the "
                    "attention has nowhere in particular to look.",
                    "Move the output cursor to a step where the attention leaves the task's ideal alignment (the "
                    "orange circles).",
                    rule("attention_off_ideal"),
                ),
                Step(
                    "Another score",
                    "attention",
                    "copy-first-k",
                    "bahdanau",
                    "Luong scores with the decoder's current output: a dot product, a learned bilinear form "
                    "(general), or a small network (concat). Bahdanau scores with the state before the step.",
                    "Switch the model to the general (Luong) score.",
                    rule("config_is", arch="luong", score="general"),
                ),
                Step(
                    "Reading a date",
                    "attention",
                    "dates",
                    "bahdanau",
                    "With readable symbols the weights tell a story. This model rewrites a date as people write it "
                    '("23 june 2009", "june 23, 2009", "23/06/09") in ISO form, 2009-06-23, one character '
                    "at a time: it writes the year first, wherever the input put it.",
                    "Predict, then see the heatmap. Type the same date another way (2009.06.23, 23/06/09) and "
                    "watch the year's rows follow it.",
                    rule("predicted"),
                    text="23 june 2009",
                    predict=Prediction(
                        'Output character 1 is the first digit of the year. Where in "23 june 2009" will it look?',
                        rule("input_parts"),
                        rule("attention_part", output_step=1),
                        "The year's four rows weigh the end of the input, where the year is written; the month's "
                        "second digit weighs the letters of its name, in the middle. Its first digit, a 0 for nine "
                        "months of twelve, needs hardly any input at all.",
                    ),
                ),
            ),
        ),
        Lesson(
            "attention-patterns",
            "Direct or recursive decoders, and input feeding",
            "How the decoder is wired decides what it can know: the encoding alone, its own outputs, or also "
            "where it last looked.",
            (
                Step(
                    "The direct pattern",
                    "graph",
                    "copy-first-k",
                    "repeat-vector",
                    "In the direct pattern, RepeatVector gives every decoder step the same encoding and nothing else.",
                    "Predict, then read the unrolled graph.",
                    rule("predicted"),
                    predict=Prediction(
                        "Does decoder step 2 of the direct pattern know what step 1 wrote?",
                        rule("yes_no"),
                        rule("value", value="no"),
                        "No edge runs from one output to the next decoder step: each step sees the repeated "
                        "encoding and the previous state only.",
                    ),
                ),
                Step(
                    "The recursive pattern",
                    "graph",
                    "copy-first-k",
                    "luong-input-feeding",
                    "The recursive pattern feeds each output back in as the next step's input. Input feeding adds "
                    "the previous attentional vector, so the decoder knows where it already looked.",
                    "Switch the graph to what the decoder reads in training.",
                    rule("param_is", name="reads", value="the true previous symbol (teacher forcing, training)"),
                ),
                Step(
                    "Attention with input feeding",
                    "attention",
                    "copy-first-k",
                    "luong-input-feeding",
                    "With input feeding, each step's weights can depend on where the previous step looked.",
                    "Move the output cursor to output step 2.",
                    rule("param_is", name="step", value="2"),
                ),
            ),
        ),
        Lesson(
            "autoencoder",
            "LSTM autoencoders",
            "Squeeze a series into one vector, rebuild it, and use the vector as a summary.",
            (
                Step(
                    "Rebuild from one vector",
                    "embeddings",
                    "series",
                    "lstm-autoencoder",
                    "The encoder reads nine values into its final hidden state; the decoder must rebuild all nine "
                    "from that one vector.",
                    "Predict, then compare the reconstruction with the input.",
                    rule("predicted"),
                    predict=Prediction(
                        "Will every reconstructed value be within 0.1 of the input?",
                        rule("yes_no"),
                        rule("reconstruction_close", tolerance=0.1),
                        "The first chart draws the input and the reconstruction over each other.",
                    ),
                ),
                Step(
                    "What the vector keeps",
                    "embeddings",
                    "series",
                    "lstm-autoencoder",
                    "Each dot is one series' encoding, projected to two dimensions. If the encoding keeps what "
                    "makes series differ, similar series land close together.",
                    "Colour the dots by frequency.",
                    rule("param_is", name="colour", value="frequency"),
                ),
                Step(
                    "Neighbours",
                    "embeddings",
                    "series",
                    "lstm-autoencoder",
                    "Nearest neighbours in the encoding are series the autoencoder finds alike.",
                    "Click a dot in the scatter (or choose a series by number) to see its neighbours.",
                    rule("param_changed", name="point", default="0"),
                ),
            ),
        ),
    )
}
