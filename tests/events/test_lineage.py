"""Fork and diff, pure: a fork is the start of a log renamed; a diff finds where logs part."""

from __future__ import annotations

import math

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from memvisor._exceptions import UsageError
from memvisor.events import (
    AgentCreated,
    Event,
    LLMResponded,
    ToolCalled,
    UserMessage,
    first_difference,
    fork_events,
)

from .strategies import any_event, event_of

T0 = 1_735_689_600.0


def as_log(events: list[Event], agent: str = "sam") -> list[Event]:
    return [
        msgspec.structs.replace(event, agent=agent, seq=seq)
        for seq, event in enumerate(events, start=1)
    ]


logs = st.tuples(event_of(AgentCreated), st.lists(any_event(), max_size=6)).map(
    lambda parts: as_log([parts[0], *parts[1:][0]])
)
"""Whole logs that start with ``agent_created``, as every agent's does."""


def conversation() -> list[Event]:
    return [
        AgentCreated(agent="sam", seq=1, at=T0, model="m"),
        UserMessage(agent="sam", seq=2, at=T0 + 1, text="hi"),
        LLMResponded(agent="sam", seq=3, at=T0 + 2, cause=2, model="m", content="think"),
        ToolCalled(agent="sam", seq=4, at=T0 + 3, cause=3, call_id="c", name="f", arguments="{}"),
        UserMessage(agent="sam", seq=5, at=T0 + 4, text="bye"),
    ]


# --- fork -----------------------------------------------------------------------------


@given(logs, st.data())
def test_a_fork_is_the_start_of_the_log_under_the_new_name(
    events: list[Event], data: st.DataObject
) -> None:
    at = data.draw(st.integers(1, len(events)), label="at")
    before = list(events)
    fork = fork_events(events, at, "bob")
    assert events == before
    assert len(fork) == at
    assert all(e.agent == "bob" for e in fork)
    first = fork[0]
    assert isinstance(first, AgentCreated)
    assert first.forked_from == f"sam@{at}"
    assert msgspec.structs.replace(first, agent="sam", forked_from=None) == (
        msgspec.structs.replace(events[0], forked_from=None)
    )
    assert [msgspec.structs.replace(e, agent="sam") for e in fork[1:]] == events[1:at]


@given(logs, st.data())
def test_a_fork_and_its_original_part_right_after_the_fork_point(
    events: list[Event], data: st.DataObject
) -> None:
    at = data.draw(st.integers(1, len(events)), label="at")
    difference = first_difference(events, fork_events(events, at, "bob"))
    if at == len(events):
        assert difference is None
        return
    assert difference is not None
    assert difference.seq == at + 1
    assert difference.a == events[at]
    assert difference.b is None
    assert difference.fields == ()
    assert sum(difference.a_after.values()) == len(events) - at
    assert difference.b_after == {}


def test_a_fork_of_a_fork_names_its_own_parent() -> None:
    fork = fork_events(fork_events(conversation(), 4, "bob"), 2, "carl")
    first = fork[0]
    assert isinstance(first, AgentCreated)
    assert first.forked_from == "bob@2"


def test_a_fork_may_end_inside_a_call() -> None:
    fork = fork_events(conversation(), 4, "bob")
    assert isinstance(fork[-1], ToolCalled)


@pytest.mark.parametrize("at", [0, -1, 6, 100])
def test_a_fork_point_outside_the_log_is_refused(at: int) -> None:
    with pytest.raises(UsageError, match=f"cannot fork 'sam' at seq {at}: .* seq 1 to 5"):
        fork_events(conversation(), at, "bob")


def test_a_log_that_does_not_start_with_agent_created_cannot_be_forked() -> None:
    with pytest.raises(UsageError, match="starts with user_message, not agent_created"):
        fork_events(as_log(conversation()[1:]), 1, "bob")
    with pytest.raises(UsageError, match="empty"):
        fork_events([], 1, "bob")


# --- diff -----------------------------------------------------------------------------


@given(logs, st.floats(allow_nan=False, allow_infinity=False))
def test_logs_that_differ_only_in_agent_time_and_forked_from_are_the_same(
    events: list[Event], shift: float
) -> None:
    other = [msgspec.structs.replace(e, agent="bob", at=e.at + shift) for e in events]
    other[0] = msgspec.structs.replace(other[0], forked_from="sam@9")
    assert first_difference(events, other) is None
    assert first_difference(events, events) is None


def test_the_first_differing_event_is_reported_with_its_fields() -> None:
    a = conversation()
    b = [*a[:4], UserMessage(agent="sam", seq=5, at=T0, text="ciao", name="x")]
    difference = first_difference(a, b)
    assert difference is not None
    assert (difference.seq, difference.a, difference.b) == (5, a[4], b[4])
    assert difference.fields == ("text", "name")


def test_events_of_different_types_differ_in_type() -> None:
    a = conversation()
    b = as_log([a[0], a[2], a[1]])
    difference = first_difference(a, b)
    assert difference is not None
    assert (difference.seq, difference.fields) == (2, ("type",))


def test_the_summary_counts_what_follows_on_each_side() -> None:
    a = conversation()
    b = as_log([*a[:2], UserMessage(agent="sam", seq=3, at=T0, text="again")])
    difference = first_difference(a, b)
    assert difference is not None
    assert difference.a_after == {"llm_responded": 1, "tool_called": 1, "user_message": 1}
    assert difference.b_after == {"user_message": 1}
    assert difference.summary == (
        "A: 3 events from seq 3 on (1 llm_responded, 1 tool_called, 1 user_message);"
        " B: 1 event from seq 3 on (1 user_message)"
    )
    shorter = first_difference(a[:2], a)
    assert shorter is not None
    assert shorter.after("A") == "none (its log ends at seq 2)"
    assert list(shorter.b_after) == ["llm_responded", "tool_called", "user_message"]


def test_most_frequent_types_come_first() -> None:
    a = conversation()
    b = as_log([a[0], *[UserMessage(agent="sam", seq=0, at=T0, text=str(i)) for i in range(3)]])
    b.append(msgspec.structs.replace(a[2], seq=5))
    difference = first_difference(a, b)
    assert difference is not None
    assert list(difference.b_after.items()) == [("user_message", 3), ("llm_responded", 1)]


def test_a_nan_is_the_same_nan() -> None:
    a = [*conversation()[:2], LLMResponded(agent="sam", seq=3, at=T0, model="m", latency=math.nan)]
    assert first_difference(a, list(a)) is None
    b = [*a[:2], msgspec.structs.replace(a[2], latency=0.5)]
    difference = first_difference(a, b)
    assert difference is not None
    assert difference.fields == ("latency",)
