"""Compaction: pressure alerts, eviction plans, the recursive summary, and their properties."""

from __future__ import annotations

import math
from collections.abc import Sequence

import hypothesis
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memvisor import ConfigError, UsageError
from memvisor.events import (
    AgentCreated,
    BlockSpec,
    ContextCompacted,
    Event,
    LLMResponded,
    MemoryPressure,
    TokenUsage,
    ToolCall,
    ToolReturned,
    UserMessage,
)
from memvisor.memory._compaction import (
    CannotCompact,
    CompactionConfig,
    Evict,
    NoCompaction,
    PressureAlert,
    compact,
    compaction_event,
    evicted_messages,
    plan_compaction,
)
from memvisor.memory._context import compile_context, queue_costs
from memvisor.memory._messages import ChatMessage
from memvisor.memory._state import AgentState, QueuedMessage, fold, fold_all
from memvisor.memory._tokens import estimate_text

from .strategies import AGENT, assert_api_valid, histories, message_events, recall_events

T0 = 1_735_689_600.0
WINDOW = 2000


def _log(
    *, window: int = WINDOW, users: int = 0, text: str = "a message of some words"
) -> list[Event]:
    events: list[Event] = [
        AgentCreated(
            agent=AGENT,
            seq=1,
            at=T0,
            system="You are Ada.",
            blocks=(BlockSpec(label="human", value="Bob"),),
            context_window=window,
        )
    ]
    for _ in range(users):
        events.append(UserMessage(agent=AGENT, seq=len(events) + 1, at=T0, text=text))
    return events


def _respond(events: list[Event], tokens: int, *calls: str) -> LLMResponded:
    event = LLMResponded(
        agent=AGENT,
        seq=len(events) + 1,
        at=T0,
        model="m",
        content="ok",
        tool_calls=tuple(ToolCall(id=c, name="f", arguments="{}") for c in calls),
        usage=TokenUsage(prompt_tokens=tokens),
    )
    events.append(event)
    return event


def _result(events: list[Event], call_id: str) -> None:
    events.append(
        ToolReturned(
            agent=AGENT,
            seq=len(events) + 1,
            at=T0,
            call_id=call_id,
            name="f",
            status="ok",
            content="r",
        )
    )


def _evict(plan: object) -> Evict:
    assert isinstance(plan, Evict), plan
    return plan


def _summarize(previous: str | None, messages: Sequence[ChatMessage]) -> str:
    return f"{previous or ''} +{len(messages)}".strip()


# --- configuration ---------------------------------------------------------------------


def test_defaults_follow_the_design() -> None:
    config = CompactionConfig()
    assert (config.warning_fraction, config.flush_fraction, config.target_fraction) == (
        0.75,
        1.0,
        0.5,
    )
    assert config.keep_last == 4


@pytest.mark.parametrize(
    "kwargs",
    [
        {"target_fraction": 0.0},
        {"target_fraction": 1.0},
        {"flush_fraction": 0.4},
        {"warning_fraction": 0.0},
        {"summary_fraction": 0.5},
        {"keep_last": -1},
    ],
)
def test_unusable_configs_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        CompactionConfig(**kwargs)  # type: ignore[arg-type]


# --- when ------------------------------------------------------------------------------


def test_below_the_warning_fraction_nothing_happens() -> None:
    events = _log(users=2)
    _respond(events, 1500)
    assert plan_compaction(fold_all(events), archival_count=0) == NoCompaction(
        prompt_tokens=1500, context_window=WINDOW
    )


def test_the_estimate_decides_before_any_reported_usage() -> None:
    state = fold_all(_log(users=2))
    plan = plan_compaction(state, archival_count=0)
    assert plan == NoCompaction(
        prompt_tokens=compile_context(state, archival_count=0).estimated_tokens,
        context_window=WINDOW,
    )


def test_reported_usage_past_the_warning_fraction_raises_one_alert() -> None:
    events = _log(users=2)
    _respond(events, 1501)
    plan = plan_compaction(fold_all(events), archival_count=0)
    assert plan == PressureAlert(prompt_tokens=1501, context_window=WINDOW)
    alert = plan.event(agent=AGENT, seq=len(events) + 1, at=T0, cause=len(events))
    assert alert == MemoryPressure(
        agent=AGENT,
        seq=len(events) + 1,
        at=T0,
        cause=len(events),
        prompt_tokens=1501,
        context_window=WINDOW,
    )
    events.append(alert)
    _respond(events, 1700)  # still above: no second alert
    assert isinstance(plan_compaction(fold_all(events), archival_count=0), NoCompaction)


@pytest.mark.parametrize("alerted", [False, True])
def test_past_the_flush_fraction_the_oldest_messages_are_evicted(alerted: bool) -> None:
    events = _log(users=10)
    if alerted:
        events.append(
            MemoryPressure(
                agent=AGENT, seq=len(events) + 1, at=T0, prompt_tokens=1, context_window=1
            )
        )
    _respond(events, WINDOW + 1)
    plan = _evict(plan_compaction(fold_all(events), archival_count=0))
    assert plan.reason == "flush"
    assert plan.through_seq >= 2
    assert plan.tokens_before == WINDOW + 1


def test_a_lower_flush_fraction_evicts_earlier() -> None:
    events = _log(users=10)
    _respond(events, 1700)
    config = CompactionConfig(flush_fraction=0.8)
    assert _evict(plan_compaction(fold_all(events), config, archival_count=0)).reason == "flush"


def test_an_overflow_error_forces_eviction_even_below_the_warning_fraction() -> None:
    events = _log(users=10)
    _respond(events, 100)
    state = fold_all(events)
    assert isinstance(plan_compaction(state, archival_count=0), NoCompaction)
    plan = _evict(plan_compaction(state, overflow=True, archival_count=0))
    assert plan.reason == "overflow"
    # The server says the prompt had at least a window's worth of tokens: trust it.
    assert plan.scale >= WINDOW / compile_context(state, archival_count=0).estimated_tokens


def test_nothing_to_evict_is_reported_not_planned() -> None:
    events = _log(users=4)
    plan = plan_compaction(fold_all(events), overflow=True, archival_count=0)
    assert isinstance(plan, CannotCompact)
    assert "the last 4" in plan.reason


# --- what ------------------------------------------------------------------------------


def test_eviction_takes_the_fewest_oldest_messages_that_reach_the_target() -> None:
    events = _log(users=30, text="word " * 20)
    _respond(events, WINDOW + 1)
    state = fold_all(events)
    plan = _evict(plan_compaction(state, archival_count=0))
    target = 0.5 * WINDOW / plan.scale
    assert plan.kept_tokens + plan.summary_budget <= target
    one_fewer = plan.kept_tokens + queue_costs(state)[plan.count - 1]
    assert one_fewer + plan.summary_budget > target
    assert plan.through_seq == state.queue[plan.count - 1].seq


def test_reported_usage_above_the_estimate_scales_the_eviction_up() -> None:
    events = _log(users=30, text="word " * 20)
    _respond(events, WINDOW + 1)
    state = fold_all(events)
    estimated = compile_context(state, archival_count=0).estimated_tokens
    plan = _evict(plan_compaction(state, archival_count=0))
    assert plan.scale == pytest.approx((WINDOW + 1) / estimated)
    unscaled = _evict(
        plan_compaction(
            msgspec.structs.replace(state, last_prompt_tokens=None),
            CompactionConfig(flush_fraction=0.1, target_fraction=0.05, summary_fraction=0.01),
            archival_count=0,
        )
    )
    assert unscaled.scale == 1.0


def test_the_last_messages_are_kept_and_a_call_is_never_cut_from_its_results() -> None:
    events = _log(users=3, text="word " * 100)
    _respond(events, 0, "c1", "c2")  # seq 5
    events.append(UserMessage(agent=AGENT, seq=6, at=T0, text="word " * 100))
    _result(events, "c1")  # seq 7
    _result(events, "c2")  # seq 8
    for _ in range(4):
        events.append(UserMessage(agent=AGENT, seq=len(events) + 1, at=T0, text="x"))
    state = fold_all(events)
    plan = _evict(
        plan_compaction(state, CompactionConfig(keep_last=6), overflow=True, archival_count=0)
    )
    # Cuts after seq 5, 6 or 7 would split c1/c2 from their call; the last 6 are kept.
    assert plan.through_seq in (2, 3, 4)
    assert plan.through_seq == 4  # the target is out of reach: evict as much as allowed


def test_compact_summarizes_the_evicted_messages_with_the_previous_summary() -> None:
    events = _log(users=10)
    _respond(events, WINDOW + 1)
    state = fold_all(events)
    plan = _evict(plan_compaction(state, archival_count=0))
    seen: list[tuple[str | None, tuple[ChatMessage, ...]]] = []

    def summarizer(previous: str | None, messages: Sequence[ChatMessage]) -> str:
        seen.append((previous, tuple(messages)))
        return "  Bob wrote a lot.  "

    event = compact(state, plan, summarizer, seq=len(events) + 1, at=T0 + 9, cause=len(events))
    assert seen == [(None, tuple(entry.message for entry in state.queue[: plan.count]))]
    assert event == ContextCompacted(
        agent=AGENT,
        seq=len(events) + 1,
        at=T0 + 9,
        cause=len(events),
        through_seq=plan.through_seq,
        evicted=plan.count,
        summary="Bob wrote a lot.",
        tokens_before=WINDOW + 1,
        tokens_after=event.tokens_after,
    )
    # The two-step form (the shell summarizes with the LLM in between) is the same.
    summary = summarizer(state.summary, evicted_messages(state, plan))
    assert compaction_event(
        state, plan, summary, seq=event.seq, at=event.at, cause=event.cause
    ) == (event)
    # The next compaction's summarizer sees this summary: it is recursive.
    events.append(event)
    for _ in range(10):
        events.append(UserMessage(agent=AGENT, seq=len(events) + 1, at=T0, text="more words"))
    state = fold_all(events)
    compact(
        state,
        _evict(plan_compaction(state, overflow=True, archival_count=0)),
        summarizer,
        seq=len(events) + 1,
        at=T0,
    )
    assert seen[-1][0] == "Bob wrote a lot."


def test_a_long_summary_is_cut_to_its_budget() -> None:
    events = _log(users=10)
    _respond(events, WINDOW + 1)
    state = fold_all(events)
    plan = _evict(plan_compaction(state, archival_count=0))
    event = compaction_event(state, plan, "blah " * 5000, seq=len(events) + 1, at=T0)
    assert estimate_text(event.summary) <= plan.summary_budget
    assert event.summary.endswith("[…]")
    after = compile_context(fold(state, event), archival_count=0)
    assert after.estimated_tokens == plan.kept_tokens + estimate_text(event.summary)
    assert event.tokens_after >= after.estimated_tokens


def test_a_plan_for_another_state_is_refused() -> None:
    events = _log(users=10)
    _respond(events, WINDOW + 1)
    state = fold_all(events)
    plan = _evict(plan_compaction(state, archival_count=0))
    event = compaction_event(state, plan, "s", seq=len(events) + 1, at=T0)
    compacted = fold(state, event)
    with pytest.raises(UsageError, match="plan again"):
        compaction_event(compacted, plan, "s", seq=event.seq + 1, at=T0)
    with pytest.raises(UsageError, match="plan again"):
        evicted_messages(compacted, msgspec.structs.replace(plan, count=99))


# --- properties ------------------------------------------------------------------------


def _oracle_cuts(queue: tuple[QueuedMessage, ...], keep_last: int) -> list[int]:
    """Every k such that evicting queue[:k] splits no logged call from its result."""
    cuts = []
    for k in range(1, len(queue) - keep_last + 1):
        calls = {c.id for e in queue[:k] for c in e.message.tool_calls}
        results = {e.message.tool_call_id for e in queue[k:] if e.message.role == "tool"}
        if not calls & results:
            cuts.append(k)
    return cuts


_configs = st.builds(
    lambda target, keep_last: CompactionConfig(
        target_fraction=target, keep_last=keep_last, summary_fraction=target / 5
    ),
    st.floats(0.2, 0.8),
    st.integers(0, 6),
)
_summaries = st.lists(st.sampled_from(["Bob", "likes", "tea", "記憶", "\n"]), max_size=400).map(
    " ".join
)


@settings(max_examples=300)
@given(
    histories(min_steps=10, max_steps=60, windows=st.integers(600, 3000)),
    _configs,
    st.none() | st.floats(0.8, 1.6),
    st.booleans(),
    _summaries,
)
def test_after_compaction_the_context_fits_nothing_is_lost_and_calls_stay_paired(
    events: list[Event],
    config: CompactionConfig,
    reported: float | None,
    overflow: bool,
    summary: str,
) -> None:
    # ``reported``: the server counted this many tokens per estimated one (None:
    # no report since the last compaction). Generated histories report anything.
    state = fold_all(events)
    if reported is not None:
        estimate = compile_context(state, archival_count=3).estimated_tokens
        state = msgspec.structs.replace(state, last_prompt_tokens=math.ceil(estimate * reported))
    plan = plan_compaction(state, config, overflow=overflow, archival_count=3)
    hypothesis.event(type(plan).__name__)
    if isinstance(plan, CannotCompact):
        assert _oracle_cuts(state.queue, config.keep_last) == []
        return
    if not isinstance(plan, Evict):
        assert not overflow
        return
    event = compaction_event(state, plan, summary, seq=state.last_seq + 1, at=T0)
    after = fold(state, event)
    window = state.context_window
    compiled = compile_context(after, archival_count=3)
    target_reached = compiled.estimated_tokens <= config.target_fraction * window / plan.scale
    hypothesis.event("target reached" if target_reached else "target out of reach")

    # Nothing is lost from recall: the log only grew, the count did not move, and
    # the evicted messages are exactly the queue's messages through through_seq.
    assert len(message_events([*events, event])) == len(message_events(events))
    assert after.recall_count == state.recall_count == len(recall_events(events))
    before = [entry.seq for entry in state.queue]
    assert event.evicted == plan.count == len([s for s in before if s <= event.through_seq]) >= 1
    assert after.queue == state.queue[plan.count :]
    assert len(after.queue) >= min(config.keep_last, len(state.queue))

    # The context fits: down to the target, or as far as keep_last and pairing allow.
    assert compiled.estimated_tokens == plan.kept_tokens + estimate_text(event.summary)
    assert estimate_text(event.summary) <= plan.summary_budget
    if compiled.estimated_tokens > config.target_fraction * window / plan.scale:
        assert plan.count == max(_oracle_cuts(state.queue, config.keep_last))
    if compiled.estimated_tokens > window:
        assert plan.count == max(_oracle_cuts(state.queue, config.keep_last))

    # Calls and results stay paired: valid for the API, and no logged result is
    # separated from a call still in the queue.
    assert_api_valid(compiled.messages)
    assert plan.count in _oracle_cuts(state.queue, config.keep_last)
    logged = {e.call_id for e in events if isinstance(e, ToolReturned)}
    in_queue = {e.message.tool_call_id for e in after.queue if e.message.role == "tool"}
    for entry in after.queue:
        for call in entry.message.tool_calls:
            assert call.id not in logged or call.id in in_queue


@settings(max_examples=200)
@given(
    st.lists(
        st.one_of(st.integers(0, WINDOW).map(lambda t: ("respond", t)), st.just(("compact", 0))),
        max_size=40,
    )
)
def test_one_pressure_alert_per_crossing_until_a_compaction(steps: list[tuple[str, int]]) -> None:
    events = _log()
    state = fold_all(events)
    alerts = expected = 0
    alerted = False
    for kind, tokens in steps:
        if kind == "compact":
            compaction = ContextCompacted(
                agent=AGENT,
                seq=len(events) + 1,
                at=T0,
                through_seq=len(events),
                evicted=len(state.queue),
                summary="s",
            )
            events.append(compaction)
            state = fold(state, compaction)
            alerted = False
            continue
        state = fold(state, _respond(events, tokens))
        if tokens > 0.75 * WINDOW and not alerted:
            expected += 1
            alerted = True
        plan = plan_compaction(state, archival_count=0)
        assert not isinstance(plan, Evict | CannotCompact)
        if isinstance(plan, PressureAlert):
            alerts += 1
            alert = plan.event(agent=AGENT, seq=len(events) + 1, at=T0)
            events.append(alert)
            state = fold(state, alert)
    assert alerts == expected


def test_a_state_with_no_setup_plans_without_error() -> None:
    assert isinstance(plan_compaction(AgentState(), archival_count=0), NoCompaction)
