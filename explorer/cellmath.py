"""One step of one unit of a recurrent layer, in numbers: the gate equations with the values of a real input.

`step_math(trace, row, step, unit)` takes a probe `LayerTrace` (explorer/probe.py) and returns a `StepMath`: the
input x_t, the unit's columns of the input kernel W and the recurrent kernel U and its biases, the previous h and
c, every gate's pre-activation split into its parts (x_t·W[:, k], h_{t-1}·U[:, k], b[k]), every gate after its
activation, and the new c and h. The previous state is the probe's own (h and c at the step before, or the layer's
initial state), and the step is recomputed here from the equations, so comparing the result with the probe's gates,
c and h at that step (`StepMath.largest_difference`) checks one application of the formulas, not a copy of them.

`step_latex(math)` writes it as LaTeX (`st.latex`), `step_rows(math)` as a tidy table of (quantity, equation,
value) and `weight_rows(math)` as the vectors behind the dot products. `cell_weights(layer)` reads a Keras layer's
weights into NumPy (`CellWeights`, one per direction); the probe keeps them on each `LayerTrace`.

Keras' conventions (keras/src/layers/rnn/lstm.py, gru.py): an LSTM's kernel columns are the gates in the order
input, forget, candidate (Keras calls it c), output, each `units` wide; a GRU's are update (z), reset (r),
candidate (h), and with `reset_after=True` (the Keras 3 default) its bias has two rows, one added to x_t·W and one
to h_{t-1}·U, and the reset gate scales the recurrent part of the candidate *after* the product. Bidirectional
layers put the forward units first and the backward units after them; the backward direction reads the sequence
from its end, so its "previous" state at step t is its state at step t + 1.

NumPy only: nothing here imports Keras (a layer is read through its attributes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# Keras' gate order along the kernel's columns, by cell type: (gate name as the probe calls it, symbol).
KERNEL_ORDER: dict[str, tuple[tuple[str, str], ...]] = {
    "lstm": (("input", "i"), ("forget", "f"), ("candidate", "g"), ("output", "o")),
    "gru": (("update", "z"), ("reset", "r"), ("candidate", r"\tilde{h}")),
    "rnn": (("hidden", "h"),),
}


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


ACTIVATIONS = {"tanh": np.tanh, "sigmoid": _sigmoid, "relu": lambda x: np.maximum(x, 0.0)}
LATEX_ACTIVATIONS = {"tanh": r"\tanh", "sigmoid": r"\sigma", "relu": r"\operatorname{relu}"}


@dataclass(frozen=True)
class CellWeights:
    """One direction of a recurrent layer: kernel W (features, gates * units), recurrent kernel U
    (units, gates * units), bias b ((gates * units,), or (2, gates * units) for a GRU with reset_after; None when
    the layer has none) and the names of its two activations."""

    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray | None
    activation: str
    recurrent_activation: str

    @property
    def units(self) -> int:
        return int(self.recurrent_kernel.shape[0])


def _direction_weights(layer: Any) -> CellWeights:
    config = layer.get_config()
    cell = layer.cell
    return CellWeights(
        kernel=np.asarray(cell.kernel, np.float32),
        recurrent_kernel=np.asarray(cell.recurrent_kernel, np.float32),
        bias=np.asarray(cell.bias, np.float32) if cell.use_bias else None,
        activation=config["activation"],
        recurrent_activation=config.get("recurrent_activation", "sigmoid"),
    )


def cell_weights(layer: Any) -> tuple[CellWeights, ...]:
    """A Keras LSTM / GRU / SimpleRNN layer's weights as NumPy: one `CellWeights`, or (forward, backward) for a
    `Bidirectional` layer, in the order its units are concatenated."""
    if hasattr(layer, "forward_layer"):
        return (_direction_weights(layer.forward_layer), _direction_weights(layer.backward_layer))
    return (_direction_weights(layer),)


@dataclass(frozen=True)
class GateStep:
    """One gate of one unit at one step: pre-activation = from_input + input_bias + reset * (from_hidden +
    recurrent_bias), then `activation`. `recurrent_bias` is nonzero and `reset` differs from 1 only for a GRU
    (its second bias row; the reset gate scaling the candidate's recurrent part)."""

    name: str
    symbol: str
    from_input: float  # x_t · W[:, k]
    from_hidden: float  # h_{t-1} · U[:, k]
    input_bias: float  # b[k] (a GRU's input bias row)
    recurrent_bias: float  # a GRU's recurrent bias row; 0 otherwise
    reset: float  # the GRU candidate's reset gate; 1 otherwise
    preactivation: float  # computed from the whole vectors, as the probe does
    activation: str
    value: float

    @property
    def parts_sum(self) -> float:
        """The pre-activation rebuilt from the parts shown (equals `preactivation` up to rounding)."""
        return self.from_input + self.input_bias + self.reset * (self.from_hidden + self.recurrent_bias)


@dataclass(frozen=True)
class StepMath:
    """The numbers of one step of one unit. `step` and `unit` are 0-based indexes into the trace; `unit` counts
    over the layer's units (both directions of a bidirectional layer), `direction_unit` within its direction."""

    layer: str
    role: str
    cell: str
    row: int
    step: int
    unit: int
    direction: str | None  # "forward" / "backward" for a bidirectional layer, else None
    direction_unit: int
    previous_step: int | None  # the trace step the previous state comes from; None: the initial state
    x: np.ndarray  # (features,)
    h_previous: np.ndarray  # (direction units,)
    c_previous: float | None  # this unit's previous cell state (LSTM)
    kernel_columns: dict[str, np.ndarray]  # gate -> W[:, k] (features,)
    recurrent_columns: dict[str, np.ndarray]  # gate -> U[:, k] (direction units,)
    gates: tuple[GateStep, ...]
    c: float | None
    h: float
    activation: str
    probe_gates: dict[str, float]
    probe_c: float | None
    probe_h: float

    def gate(self, name: str) -> GateStep:
        return next(gate for gate in self.gates if gate.name == name)

    @property
    def h_previous_unit(self) -> float:
        return float(self.h_previous[self.direction_unit])

    @property
    def largest_difference(self) -> float:
        """The largest absolute difference between these numbers and the probe's gates, c and h at this step."""
        differences = [abs(self.h - self.probe_h)]
        differences += [abs(g.value - self.probe_gates[g.name]) for g in self.gates if g.name in self.probe_gates]
        if self.c is not None and self.probe_c is not None:
            differences.append(abs(self.c - self.probe_c))
        return float(max(differences))


def step_math(trace: Any, row: int, step: int, unit: int) -> StepMath:
    """The equations of `trace`'s cell at example `row`, time step `step` and unit `unit` (all 0-based), with numbers.

    `trace` is a probe `LayerTrace` that carries its layer's weights (`weights`) and initial state
    (`initial_state`). Raises ValueError for an index outside the trace or a trace without weights.
    """
    batch, steps, units = trace.hidden.shape
    for name, value, size in (("row", row, batch), ("step", step, steps), ("unit", unit, units)):
        if not 0 <= value < size:
            raise ValueError(f"{name} {value} is outside 0..{size - 1}")
    weights = tuple(getattr(trace, "weights", ()) or ())
    if not weights:
        raise ValueError(f"the trace of {trace.name} carries no weights")
    width = weights[0].units
    direction_index, direction_unit = divmod(unit, width)
    direction = ("forward", "backward")[direction_index] if len(weights) == 2 else None
    weight = weights[direction_index]
    offset = direction_index * width
    columns = slice(offset, offset + width)

    # The previous state: the step before in reading order (after, for the backward direction), or the initial one.
    previous_step = step + 1 if direction == "backward" else step - 1
    if not 0 <= previous_step < steps:
        previous_step = None
    initial = getattr(trace, "initial_state", None)
    if previous_step is not None:
        h_previous = trace.hidden[row, previous_step, columns]
        c_previous = trace.cell_state[row, previous_step, unit] if trace.cell_state is not None else None
    elif initial and direction is None:
        h_previous = np.asarray(initial[0])[row]
        c_previous = float(np.asarray(initial[1])[row, unit]) if trace.cell == "lstm" and len(initial) > 1 else None
    else:
        h_previous = np.zeros(width, np.float32)
        c_previous = 0.0 if trace.cell == "lstm" else None
    h_previous = np.asarray(h_previous, np.float32)
    c_previous = None if c_previous is None else float(c_previous)
    x = np.asarray(trace.inputs[row, step], np.float32)

    cell = trace.cell
    order = KERNEL_ORDER[cell]
    recurrent_activation = ACTIVATIONS[weight.recurrent_activation]
    activation = ACTIVATIONS[weight.activation]
    # The whole pre-activation vectors, as the probe's replay computes them; the parts below are this unit's columns.
    projected = x @ weight.kernel
    recurrent = h_previous @ weight.recurrent_kernel
    if weight.bias is None:
        input_bias, recurrent_bias = np.zeros_like(projected), np.zeros_like(projected)
    elif weight.bias.ndim == 2:  # GRU, reset_after=True
        input_bias, recurrent_bias = weight.bias[0], weight.bias[1]
    else:
        input_bias, recurrent_bias = weight.bias, np.zeros_like(projected)

    kernel_columns, recurrent_columns, gates = {}, {}, []
    values: dict[str, float] = {}
    for index, (name, symbol) in enumerate(order):
        k = index * width + direction_unit
        kernel_columns[name] = weight.kernel[:, k]
        recurrent_columns[name] = weight.recurrent_kernel[:, k]
        reset = values["reset"] if (cell == "gru" and name == "candidate") else 1.0
        preactivation = float(projected[k] + input_bias[k] + reset * (recurrent[k] + recurrent_bias[k]))
        is_squashed = cell == "rnn" or name == "candidate"
        function = weight.activation if is_squashed else weight.recurrent_activation
        value = float((activation if is_squashed else recurrent_activation)(preactivation))
        values[name] = value
        gates.append(
            GateStep(
                name=name,
                symbol=symbol,
                from_input=float(np.dot(x, weight.kernel[:, k])),
                from_hidden=float(np.dot(h_previous, weight.recurrent_kernel[:, k])),
                input_bias=float(input_bias[k]),
                recurrent_bias=float(recurrent_bias[k]),
                reset=float(reset),
                preactivation=preactivation,
                activation=function,
                value=value,
            )
        )

    c = None
    if cell == "lstm":
        c = values["forget"] * c_previous + values["input"] * values["candidate"]
        h = values["output"] * float(activation(c))
    elif cell == "gru":
        h = values["update"] * float(h_previous[direction_unit]) + (1.0 - values["update"]) * values["candidate"]
    else:
        h = values["hidden"]

    probe_gates = {name: float(array[row, step, unit]) for name, array in trace.gates.items()}
    return StepMath(
        layer=trace.name,
        role=trace.role,
        cell=cell,
        row=row,
        step=step,
        unit=unit,
        direction=direction,
        direction_unit=direction_unit,
        previous_step=previous_step,
        x=x,
        h_previous=h_previous,
        c_previous=c_previous,
        kernel_columns=kernel_columns,
        recurrent_columns=recurrent_columns,
        gates=tuple(gates),
        c=None if c is None else float(c),
        h=float(h),
        activation=weight.activation,
        probe_gates=probe_gates,
        probe_c=float(trace.cell_state[row, step, unit]) if trace.cell_state is not None else None,
        probe_h=float(trace.hidden[row, step, unit]),
    )


# -- rendering ------------------------------------------------------------------------------------------------------


def _number(value: float, digits: int = 3) -> str:
    """A number for LaTeX: fixed decimals, a true minus sign, negative values in parentheses after an operator."""
    return f"{value:.{digits}f}"


def _term(value: float, digits: int = 3) -> str:
    """`+ 0.123` or `- 0.123`: the next term of a sum."""
    return f"{'-' if value < 0 else '+'} {abs(value):.{digits}f}"


def _sum(values: list[float], digits: int = 3) -> str:
    first, *rest = values
    return " ".join([_number(first, digits), *(_term(v, digits) for v in rest)])


def _previous(math: StepMath) -> str:
    """How the previous state is written: h_{t-1}, or h_{t+1} for the backward direction."""
    return "t+1" if math.direction == "backward" else "t-1"


def _gate_line(math: StepMath, gate: GateStep) -> str:
    """`i_t = σ(x_t·W_i + h_{t-1}·U_i + b_i) = σ(0.1 + 0.2 + 0.3) = σ(0.6) = 0.646`."""
    function = LATEX_ACTIVATIONS[gate.activation]
    symbol = gate.symbol if math.cell != "rnn" else "h"
    subscript = gate.symbol if math.cell != "rnn" else ""
    prev = _previous(math)
    w = f"W_{{{subscript}}}" if subscript else "W"
    u = f"U_{{{subscript}}}" if subscript else "U"
    b = f"b_{{{subscript}}}" if subscript else "b"
    if math.cell == "gru":
        recurrent = rf"h_{{{prev}}} {u} + b^{{h}}_{{{subscript}}}"
        if gate.name == "candidate":
            symbols = rf"x_t {w} + b^{{x}}_{{{subscript}}} + r_t \odot ({recurrent})"
            numbers = (
                f"{_sum([gate.from_input, gate.input_bias])} + {_number(gate.reset)}"
                rf" \times ({_sum([gate.from_hidden, gate.recurrent_bias])})"
            )
        else:
            symbols = rf"x_t {w} + b^{{x}}_{{{subscript}}} + {recurrent}"
            numbers = _sum([gate.from_input, gate.input_bias, gate.from_hidden, gate.recurrent_bias])
    else:
        symbols = rf"x_t {w} + h_{{{prev}}} {u} + {b}"
        numbers = _sum([gate.from_input, gate.from_hidden, gate.input_bias])
    return (
        rf"{symbol}_t &= {function}({symbols}) = {function}({numbers})"
        rf" = {function}({_number(gate.preactivation)}) = \mathbf{{{_number(gate.value)}}}"
    )


def step_latex(math: StepMath) -> str:
    """The step's equations with its numbers, as one LaTeX `aligned` block for `st.latex`."""
    lines = [_gate_line(math, gate) for gate in math.gates]
    prev = _previous(math)
    if math.cell == "lstm":
        f, i, g, o = (math.gate(name).value for name in ("forget", "input", "candidate", "output"))
        function = LATEX_ACTIVATIONS[math.activation]
        lines.append(
            rf"c_t &= f_t \, c_{{{prev}}} + i_t \, g_t = {_number(f)} \times {_number(math.c_previous)}"
            rf" + {_number(i)} \times {_number(g)} = \mathbf{{{_number(math.c)}}}"
        )
        lines.append(
            rf"h_t &= o_t \, {function}(c_t) = {_number(o)} \times {function}({_number(math.c)})"
            rf" = \mathbf{{{_number(math.h)}}}"
        )
    elif math.cell == "gru":
        z, candidate = math.gate("update").value, math.gate("candidate").value
        lines.append(
            rf"h_t &= z_t \, h_{{{prev}}} + (1 - z_t) \, \tilde{{h}}_t = {_number(z)} \times"
            rf" {_number(math.h_previous_unit)} + {_number(1 - z)} \times {_number(candidate)}"
            rf" = \mathbf{{{_number(math.h)}}}"
        )
    return r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}"


def step_rows(math: StepMath) -> list[dict[str, Any]]:
    """The step as a tidy table: one row per quantity, with its parts (empty where a part does not apply)."""
    rows: list[dict[str, Any]] = []
    for gate in math.gates:
        reset_scaled = math.cell == "gru" and gate.name == "candidate"
        rows.append(
            {
                "quantity": gate.name if math.cell != "rnn" else "h (new hidden state)",
                "x_t·W[:, k]": gate.from_input,
                "h_prev·U[:, k]": gate.from_hidden,
                "b[k]": gate.input_bias + (0.0 if reset_scaled else gate.recurrent_bias),
                "reset × (h_prev·U + b_h)": (
                    gate.reset * (gate.from_hidden + gate.recurrent_bias) if reset_scaled else None
                ),
                "pre-activation": gate.preactivation,
                "activation": gate.activation,
                "value": gate.value,
                "probe": math.probe_gates.get(gate.name, math.probe_h if math.cell == "rnn" else None),
            }
        )
    if math.cell == "lstm":
        rows.append({"quantity": "c_prev", "value": math.c_previous})
        rows.append({"quantity": "c (new cell state)", "value": math.c, "probe": math.probe_c})
    if math.cell != "rnn":
        rows.append({"quantity": "h_prev", "value": math.h_previous_unit})
        rows.append({"quantity": "h (new hidden state)", "value": math.h, "probe": math.probe_h})
    return rows


def weight_rows(math: StepMath) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """The vectors behind the dot products: rows (feature, x_t, W column of each gate) and rows (previous unit,
    h_prev, U column of each gate). Feature and unit numbers are 1-based, as the pages show them."""
    inputs = [
        {
            "feature": k + 1,
            "x_t": float(math.x[k]),
            **{f"W[:, {g}]": float(c[k]) for g, c in math.kernel_columns.items()},
        }
        for k in range(len(math.x))
    ]
    recurrent = [
        {
            "unit": k + 1,
            "h_prev": float(math.h_previous[k]),
            **{f"U[:, {g}]": float(c[k]) for g, c in math.recurrent_columns.items()},
        }
        for k in range(len(math.h_previous))
    ]
    return inputs, recurrent
