"""The picked configuration as URL parameters: the reversed source, weight penalties and gradient clipping."""

import pytest

from explorer.presets import default_config
from explorer.urlstate import config_from_params, params_from_config


def test_reversed_source_penalties_and_clipping_round_trip_through_a_link():
    config = default_config("reverse", "teacher-forcing", reverse_source=True, l1=1e-5, l2=1e-4, clipvalue=0.5)
    params = params_from_config(config)
    assert {key: params[key] for key in ("rev", "l1", "l2", "cn", "cv", "gcn")} == {
        "rev": "1",
        "l1": "1e-05",
        "l2": "0.0001",
        "cn": "0.0",
        "cv": "0.5",
        "gcn": "0.0",
    }
    again, problems = config_from_params(params)
    assert problems == [] and again == config


@pytest.mark.parametrize(
    ("link", "field", "value"),
    [
        ({"rev": "1"}, "reverse_source", True),
        ({"rev": "true"}, "reverse_source", True),
        ({"rev": "0"}, "reverse_source", False),
        ({"l1": "0.001"}, "l1", 0.001),
        ({"gcn": "2.5"}, "global_clipnorm", 2.5),
    ],
)
def test_a_link_sets_each_new_field(link, field, value):
    config, problems = config_from_params({"task": "reverse", "arch": "teacher-forcing", **link})
    section = config.model if field == "reverse_source" else config.train
    assert problems == [] and getattr(section, field) == value


@pytest.mark.parametrize(
    ("link", "message"),
    [
        ({"rev": "maybe"}, "rev='maybe' in the link is not a valid reverse_source"),
        ({"l1": "-1"}, "l1='-1' in the link was not used: l1 must be a number from 0.0 to 1000000.0"),
        ({"l2": "lots"}, "l2='lots' in the link is not a valid l2"),
        ({"cv": "inf"}, "cv='inf' in the link is not a finite number"),
        ({"cn": "1", "gcn": "2"}, "the link sets cn and gcn; gradients are clipped one way at a time: using cn"),
    ],
)
def test_a_bad_switch_penalty_or_clip_in_a_link_is_named_and_the_rest_of_the_link_kept(link, message):
    config, problems = config_from_params({"task": "reverse", "arch": "teacher-forcing", "units": "32", **link})
    assert len(problems) == 1 and problems[0].startswith(message), problems
    assert config.model.units == 32  # the link's other settings survive
    assert not (config.train.clipnorm and config.train.global_clipnorm)
