"""Every registry entry's facts are consistent with each other and with what the rest of the app derives from them.

These run over whatever the registries hold, so a new task or architecture is checked without a new test.
"""

from __future__ import annotations

import pytest

from explorer.architectures import ARCHITECTURES
from explorer.config import TaskConfig
from explorer.experiments import plan
from explorer.facts import PROBLEM_KINDS, SCORE_FUNCTIONS, VALUE_KINDS, LengthRule, Pattern
from explorer.presets import compatible_archs, default_config, pairs, pretrain_configs, shipped_pairs
from explorer.tasks import DEFAULT_TASK, TASKS
from explorer.urlstate import config_from_params, params_from_config


@pytest.mark.parametrize("name", list(TASKS))
def test_task_facts(name):
    task = TASKS[name]
    assert task.name == name
    assert task.kind in PROBLEM_KINDS and task.values in VALUE_KINDS
    assert isinstance(task.length_rule, LengthRule)
    assert task.default_arch in compatible_archs(name), "the default architecture must accept the defaults"
    config = default_config(name)
    assert config.model.arch == task.default_arch
    for arch, published in task.published.items():
        assert arch in ARCHITECTURES and 0.0 <= published.accuracy <= 1.0 and published.runs >= 1
        default_config(name, arch, **published.settings)  # the tutorial's budget is a valid configuration
    for variant in task.variants:
        assert default_config(name, **variant).key() != config.key()


@pytest.mark.parametrize("name", list(TASKS))
def test_length_rule_is_what_validation_enforces(name):
    task = TASKS[name]
    if "input_length" in task.fixed_params:  # the task fixes its lengths: any other is refused
        for field in ("input_length", "output_length"):
            with pytest.raises(ValueError, match="fixes"):
                TaskConfig(name=name, **{**task.defaults, field: task.defaults[field] + 1})
        return
    base = {**task.defaults, "input_length": 6}
    for output_length in (1, 3, 6, 9):
        wanted = task.output_length_for(6, output_length)
        if wanted != output_length:
            with pytest.raises(ValueError):
                TaskConfig(name=name, **{**base, "output_length": output_length})
        TaskConfig(name=name, **{**base, "output_length": wanted})
    assert task.output_length_is_free == (task.length_rule in (LengthRule.PREFIX, LengthRule.FREE))


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_architecture_facts(name):
    arch = ARCHITECTURES[name]
    assert arch.name == name and isinstance(arch.pattern, Pattern)
    assert arch.values in VALUE_KINDS
    assert name in compatible_archs(arch.default_task), "the default task must accept the architecture's defaults"
    config = default_config(arch=name)
    assert config.task.name == arch.default_task and config.model.arch == name
    assert set(arch.scores) <= set(SCORE_FUNCTIONS)
    assert arch.has_attention == (arch.attention is not None)
    assert not arch.scores or arch.has_attention, "score functions only mean something with attention"
    assert arch.uses_schedule == (arch.pattern is Pattern.RECURSIVE)
    for score in arch.scores:
        assert default_config(arch=name, score=score).model.score == score
        assert score in arch.score_label(score)


def test_every_entry_is_shipped_and_reproduced():
    shipped = {(c.task.name, c.model.arch) for c in pretrain_configs()}
    assert set(shipped_pairs()) <= shipped
    for task, entry in TASKS.items():  # a task that ships only some architectures ships its default
        assert (task, entry.default_arch) in shipped
        assert entry.shipped_archs is None or {(task, arch) for arch in entry.shipped_archs} <= set(pairs())
    left = set(pairs()) - shipped
    assert all(TASKS[task].shipped_archs is not None for task, _ in left)
    planned = {(item.task, item.arch) for item in plan()}
    token_defaults = {(task, entry.default_arch) for task, entry in TASKS.items() if entry.values == "tokens"} | {
        (arch.default_task, name) for name, arch in ARCHITECTURES.items() if arch.values == "tokens"
    }
    assert token_defaults <= planned
    published = {(task, arch) for task, entry in TASKS.items() for arch in entry.published}
    assert published <= planned
    for item in plan():
        if item.published is not None:
            assert item.overrides == item.published.settings and item.runs == item.published.runs


def test_the_landing_configuration_comes_from_the_registry():
    config = default_config()
    assert config.task.name == DEFAULT_TASK and config.model.arch == TASKS[DEFAULT_TASK].default_arch


@pytest.mark.parametrize(("task", "arch"), pairs())
def test_every_default_pair_survives_a_link(task, arch):
    config = default_config(task, arch)
    again, problems = config_from_params(params_from_config(config))
    assert problems == [] and again.key() == config.key()


@pytest.mark.parametrize("name", list(TASKS))
def test_a_tasks_kind_example_is_one_of_its_variants_and_is_shipped(name):
    from explorer.presets import kind_example_config

    task = TASKS[name]
    assert task.kind_variant == {} or task.kind_variant in task.variants
    shipped = {config.key() for config in pretrain_configs()}
    assert kind_example_config(name).key() in shipped  # the landing page's "Try" button loads instantly
