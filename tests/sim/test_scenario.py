"""Scenario files: the examples load, mistakes are named, durations parse."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memvisor import ConfigError
from memvisor.sim import load_scenario, parse_duration

EXAMPLES = Path(__file__).parent.parent.parent / "examples"


@pytest.mark.parametrize("name", ["negotiation", "rumour", "support"])
def test_every_example_scenario_loads(name: str) -> None:
    scenario = load_scenario(EXAMPLES / f"{name}.toml")
    assert scenario.name == name
    assert scenario.all_names()
    assert scenario.seconds > 0


def test_scale_replaces_the_counts() -> None:
    scenario = load_scenario(EXAMPLES / "rumour.toml", scale=5)
    assert scenario.all_names() == [f"villager-{i}" for i in range(5)]


@given(st.lists(st.tuples(st.integers(0, 999), st.sampled_from("dhms")), min_size=1, max_size=4))
def test_a_duration_is_the_sum_of_its_parts(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{n}{u}" for n, u in parts)
    unit = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
    assert parse_duration(text) == sum(n * unit[u] for n, u in parts)


@pytest.mark.parametrize("text", ["", "1", "h", "1x", "1h-2m", "one day"])
def test_a_bad_duration_says_how_to_write_one(text: str) -> None:
    with pytest.raises(ConfigError, match=r"write e\.g\. 30s"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('name = "x"', "Object missing required field `duration`"),
        ('name = "x"\nduration = "1d"\nsede = 1', "unknown field `sede`"),
        ('name = "x"\nduration = "soon"', "not a duration"),
        ('name = "x"\nduration = "1d"\n[[agents]]\nname = "a"', "give a policy or a model"),
        (
            'name = "x"\nduration = "1d"\n[[agents]]\nname = "a"\npolicy = "echo"\n'
            '[[inputs]]\nagent = "b"\nmessage = "hi"',
            "inputs[0] names agent 'b'",
        ),
        (
            'name = "x"\nduration = "1d"\n[[agents]]\nname = "a"\npolicy = "echo"\n'
            '[[inputs]]\nagent = "a"',
            "give a message or an event",
        ),
        (
            'name = "x"\nduration = "1d"\n[[agents]]\nname = "a"\npolicy = "echo"\ncount = 2\n'
            '[[agents]]\nname = "a-1"\npolicy = "echo"',
            "two agents have the same name",
        ),
    ],
)
def test_a_bad_scenario_is_a_config_error(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert message in str(info.value)
