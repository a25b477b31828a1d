"""Restart decisions, tested as a pure state machine: no event loop, no clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memvisor.actors import GiveUp, Restart, RestartPolicy, Supervision, SupervisorDecision


def _policy(
    *,
    max_restarts: int = 5,
    window: float = 60.0,
    backoff: float = 0.1,
    backoff_max: float = 10.0,
) -> RestartPolicy:
    return RestartPolicy(
        max_restarts=max_restarts, window=window, backoff=backoff, backoff_max=backoff_max
    )


def test_default_policy_is_five_restarts_a_minute_escalating() -> None:
    policy = RestartPolicy()
    assert policy.max_restarts == 5
    assert policy.window == 60.0
    assert policy.backoff == 0.1
    assert policy.backoff_max == 10.0
    assert policy.on_give_up == "escalate"


def test_first_crash_restarts_after_the_base_backoff() -> None:
    supervision = Supervision(_policy(backoff=0.25))
    assert supervision.on_crash(100.0) == Restart(delay=0.25, crashes=1)
    assert supervision.restarts == 1


def test_backoff_doubles_with_each_crash_in_the_window() -> None:
    supervision = Supervision(_policy(max_restarts=10, backoff=0.5, backoff_max=1000.0))
    delays = [supervision.on_crash(float(t)) for t in range(5)]
    assert delays == [
        Restart(delay=0.5, crashes=1),
        Restart(delay=1.0, crashes=2),
        Restart(delay=2.0, crashes=3),
        Restart(delay=4.0, crashes=4),
        Restart(delay=8.0, crashes=5),
    ]


def test_backoff_is_capped_at_backoff_max() -> None:
    supervision = Supervision(
        _policy(max_restarts=10, window=1000.0, backoff=1.0, backoff_max=5.0)
    )
    decisions = [supervision.on_crash(float(t)) for t in range(6)]
    assert [d.delay for d in decisions if isinstance(d, Restart)] == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_gives_up_when_more_than_max_restarts_crashes_fall_in_the_window() -> None:
    supervision = Supervision(_policy(max_restarts=3, window=10.0))
    decisions = [supervision.on_crash(t) for t in (0.0, 1.0, 2.0)]
    assert all(isinstance(d, Restart) for d in decisions)
    assert supervision.on_crash(3.0) == GiveUp(crashes=4)
    assert supervision.restarts == 3


def test_zero_max_restarts_gives_up_at_the_first_crash() -> None:
    supervision = Supervision(_policy(max_restarts=0))
    assert supervision.on_crash(0.0) == GiveUp(crashes=1)
    assert supervision.restarts == 0


def test_crashes_older_than_the_window_are_forgotten_and_backoff_resets() -> None:
    supervision = Supervision(_policy(max_restarts=2, window=10.0, backoff=1.0))
    assert supervision.on_crash(0.0) == Restart(delay=1.0, crashes=1)
    assert supervision.on_crash(5.0) == Restart(delay=2.0, crashes=2)
    # Twenty seconds later both earlier crashes are out of the window.
    assert supervision.on_crash(25.0) == Restart(delay=1.0, crashes=1)
    assert supervision.on_crash(26.0) == Restart(delay=2.0, crashes=2)
    assert supervision.restarts == 4


def test_a_crash_exactly_one_window_old_no_longer_counts() -> None:
    supervision = Supervision(_policy(max_restarts=1, window=10.0))
    assert isinstance(supervision.on_crash(0.0), Restart)
    assert supervision.on_crash(10.0) == Restart(delay=0.1, crashes=1)


def test_old_crashes_sliding_out_of_the_window_prevent_giving_up() -> None:
    supervision = Supervision(_policy(max_restarts=2, window=10.0))
    # Steady crashes every 6 s: never more than two inside any 10 s window.
    decisions = [supervision.on_crash(6.0 * i) for i in range(20)]
    assert all(isinstance(d, Restart) for d in decisions)
    assert supervision.restarts == 20


def test_restarts_counts_restart_decisions_only() -> None:
    supervision = Supervision(_policy(max_restarts=1, window=10.0))
    assert isinstance(supervision.on_crash(0.0), Restart)
    assert isinstance(supervision.on_crash(1.0), GiveUp)
    assert isinstance(supervision.on_crash(2.0), GiveUp)
    assert supervision.restarts == 1


@pytest.mark.parametrize("decision", [Restart(delay=1.0, crashes=1), GiveUp(crashes=2)])
def test_decisions_are_frozen_values(decision: SupervisorDecision) -> None:
    with pytest.raises(AttributeError):
        decision.crashes = 99  # type: ignore[misc]


# Times and windows are multiples of 1/4 s so the float arithmetic is exact and the
# model below can count "in the window" without rounding doubts.
_quarters = st.integers(min_value=0, max_value=400).map(lambda q: q / 4)


@st.composite
def _policies(draw: st.DrawFn) -> RestartPolicy:
    backoff = draw(st.sampled_from([0.01, 0.1, 0.25, 1.0, 3.0]))
    return RestartPolicy(
        max_restarts=draw(st.integers(min_value=0, max_value=8)),
        window=draw(st.integers(min_value=1, max_value=200).map(lambda q: q / 4)),
        backoff=backoff,
        backoff_max=backoff * draw(st.sampled_from([1.0, 2.0, 5.0, 100.0])),
    )


@given(policy=_policies(), gaps=st.lists(_quarters, min_size=1, max_size=60))
def test_give_up_iff_more_than_max_restarts_crashes_in_the_trailing_window(
    policy: RestartPolicy, gaps: list[float]
) -> None:
    supervision = Supervision(policy)
    now = 0.0
    seen: list[float] = []
    restarts = 0
    for gap in gaps:
        now += gap
        seen.append(now)
        in_window = sum(1 for t in seen if now - t < policy.window)
        decision = supervision.on_crash(now)
        assert decision.crashes == in_window
        if in_window > policy.max_restarts:
            assert isinstance(decision, GiveUp)
        else:
            assert isinstance(decision, Restart)
            assert policy.backoff <= decision.delay <= policy.backoff_max
            assert decision.delay == min(policy.backoff * 2 ** (in_window - 1), policy.backoff_max)
            restarts += 1
        assert supervision.restarts == restarts
