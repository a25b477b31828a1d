"""The check's one-line descriptions: the differing fields, around where they differ."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from memvisor.agent import Yield
from memvisor.events import CoreMemoryEdited, ToolReturned
from memvisor.replay import describe_action, describe_difference, describe_event


def edited(value: str, seq: int = 5) -> CoreMemoryEdited:
    return CoreMemoryEdited(agent="ada", seq=seq, at=1.0, block="human", op="append", value=value)


def test_only_the_fields_that_differ_are_shown_around_the_difference() -> None:
    logged = edited("x" * 500 + " likes tea")
    produced = edited("x" * 500 + " likes coffee", seq=9)  # seq and at never count
    expected, made = describe_difference(logged, produced)
    assert expected.startswith("core_memory_edited: value=")
    assert "block" not in expected
    assert expected.endswith("likes tea'")
    assert made.endswith("likes coffee'")
    assert len(expected) < 120  # the 500 equal characters are cut


def test_events_of_other_types_are_described_whole() -> None:
    returned = ToolReturned(
        agent="ada", seq=6, at=1.0, call_id="c", name="f", status="ok", content="Done."
    )
    expected, made = describe_difference(returned, edited("v"))
    assert expected == "tool_returned: f ok: Done."
    assert made.startswith("core_memory_edited: block='human'")


def test_a_decision_to_wait_reads_as_such() -> None:
    assert describe_action(Yield()).startswith("nothing: the turn is over")


@given(st.text(max_size=400))
def test_a_description_is_one_line_of_bounded_length(text: str) -> None:
    line = describe_event(edited(text))
    assert "\n" not in line
    assert len(line) <= 160
