"""Hypothesis strategies for agent histories, and the checks the memory tests share.

:func:`histories` simulates an agent's log: ``agent_created`` first, then inbound
messages, LLM responses whose tool calls are answered at once, later (after other
messages: a user wrote while a tool ran) or never, core memory edits and
creations, timers, alerts, errors, sources, and compactions at cuts chosen by an
oracle written here from the events alone (so the fold under test does not pick
its own test cases). Every event type of the union can appear.
"""

from __future__ import annotations

import msgspec
from hypothesis import strategies as st

from memvisor.events import (
    AgentCreated,
    AgentMessage,
    AssistantMessage,
    BlockSpec,
    ContextCompacted,
    CoreMemoryEdited,
    ErrorEvent,
    Event,
    ExternalEvent,
    LLMResponded,
    MemoryPressure,
    SourceAttached,
    StepLimited,
    TimerCancelled,
    TimerFired,
    TimerSet,
    TokenUsage,
    ToolCall,
    ToolCalled,
    ToolReturned,
    UserMessage,
)
from memvisor.events._recall import message_of
from memvisor.memory._core import EditOp
from memvisor.memory._messages import ChatMessage

__all__ = [
    "AGENT",
    "assert_api_valid",
    "histories",
    "message_events",
    "replace_window",
    "texts",
    "valid_cut_seqs",
]

AGENT = "ada"
_T0 = 1_735_689_600.0

texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=0, max_size=60
)
"""Short texts, any Unicode (emoji, CJK, accents, newlines)."""

_words = st.lists(
    st.sampled_from(["Bob", "likes", "tea", "and", "the", "build", "failed", "😀", "記憶", "é"]),
    min_size=1,
    max_size=12,
).map(" ".join)

_ACTIONS = (
    "user",
    "user",
    "user",
    "respond",
    "respond",
    "respond",
    "answer",
    "external",
    "agent",
    "timer",
    "edit",
    "compact",
    "pressure",
    "misc",
)


class _Sim:
    """What the generator must remember to keep the history valid."""

    def __init__(self, blocks: tuple[BlockSpec, ...]) -> None:
        self.events: list[Event] = []
        self.at = _T0
        self.calls = 0
        self.pending: list[tuple[int, ToolCall]] = []  # (cause seq, call) awaiting a result
        self.timers: list[str] = []
        self.blocks = {spec.label: spec for spec in blocks}
        self.values = {spec.label: spec.value for spec in blocks}

    @property
    def seq(self) -> int:
        return len(self.events) + 1

    def add(self, event: Event) -> None:
        self.events.append(event)


@st.composite
def histories(
    draw: st.DrawFn,
    *,
    min_steps: int = 0,
    max_steps: int = 40,
    windows: st.SearchStrategy[int] | None = None,
) -> list[Event]:
    """A valid log of one agent, ``agent_created`` first."""
    blocks = (
        BlockSpec(label="persona", value="I am Ada.", limit=200, read_only=draw(st.booleans())),
        BlockSpec(label="human", value=draw(_words), limit=draw(st.integers(60, 300))),
    )
    window = draw(windows if windows is not None else st.integers(300, 6000))
    sim = _Sim(blocks)
    sim.add(
        AgentCreated(
            agent=AGENT,
            seq=1,
            at=sim.at,
            model="m",
            system=draw(_words),
            blocks=blocks,
            context_window=window,
        )
    )
    for _ in range(draw(st.integers(min_steps, max_steps))):
        sim.at += draw(st.floats(0, 3600, allow_nan=False))
        _step(draw, sim, draw(st.sampled_from(_ACTIONS)))
    return sim.events


def _step(draw: st.DrawFn, sim: _Sim, action: str) -> None:
    seq, at = sim.seq, sim.at
    if action == "user":
        name = draw(st.none() | st.just("bob"))
        sim.add(UserMessage(agent=AGENT, seq=seq, at=at, text=draw(texts), name=name))
    elif action == "respond":
        _respond(draw, sim)
    elif action == "answer" and sim.pending:
        cause, call = sim.pending.pop(draw(st.integers(0, len(sim.pending) - 1)))
        _answer(draw, sim, cause, call)
    elif action == "external":
        payload = draw(st.none() | st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))
        sim.add(
            ExternalEvent(
                agent=AGENT, seq=seq, at=at, source="webhook", text=draw(texts), payload=payload
            )
        )
    elif action == "agent":
        sim.add(AgentMessage(agent=AGENT, seq=seq, at=at, sender="grace", text=draw(texts)))
    elif action == "timer":
        _timer(draw, sim)
    elif action == "edit":
        _edit(draw, sim)
    elif action == "compact":
        cuts = valid_cut_seqs(sim.events)
        if cuts:
            through = draw(st.sampled_from(cuts))
            sim.add(
                ContextCompacted(
                    agent=AGENT,
                    seq=seq,
                    at=at,
                    through_seq=through,
                    evicted=1,
                    summary=draw(_words),
                )
            )
    elif action == "pressure":
        sim.add(
            MemoryPressure(agent=AGENT, seq=seq, at=at, prompt_tokens=900, context_window=1000)
        )
    else:
        _misc(draw, sim)


def _respond(draw: st.DrawFn, sim: _Sim) -> None:
    seq = sim.seq
    calls = []
    for _ in range(draw(st.integers(0, 3))):
        sim.calls += 1
        name = draw(st.sampled_from(["send_message", "archival_memory_search", "set_timer"]))
        calls.append(ToolCall(id=f"call_{sim.calls}", name=name, arguments='{"message": "hi"}'))
    usage = TokenUsage(prompt_tokens=draw(st.sampled_from([0, 0, 100, 2000, 9000])))
    content = draw(st.none() | _words)
    sim.add(
        LLMResponded(
            agent=AGENT,
            seq=seq,
            at=sim.at,
            model="m",
            content=content,
            tool_calls=tuple(calls),
            usage=usage,
        )
    )
    for call in calls:
        when = draw(st.sampled_from(["now", "now", "now", "later", "never"]))
        if when == "now":
            _answer(draw, sim, seq, call)
        elif when == "later":
            sim.pending.append((seq, call))


def _answer(draw: st.DrawFn, sim: _Sim, cause: int, call: ToolCall) -> None:
    called = ToolCalled(
        agent=AGENT,
        seq=sim.seq,
        at=sim.at,
        cause=cause,
        call_id=call.id,
        name=call.name,
        arguments=call.arguments,
    )
    sim.add(called)
    sim.add(
        ToolReturned(
            agent=AGENT,
            seq=sim.seq,
            at=sim.at,
            cause=called.seq,
            call_id=call.id,
            name=call.name,
            status=draw(st.sampled_from(["ok", "error"])),
            content=draw(texts),
            heartbeat=draw(st.booleans()),
        )
    )
    if call.name == "send_message":
        sim.add(AssistantMessage(agent=AGENT, seq=sim.seq, at=sim.at, cause=called.seq, text="hi"))


def _timer(draw: st.DrawFn, sim: _Sim) -> None:
    seq, at = sim.seq, sim.at
    if len(sim.timers) > 0 and draw(st.booleans()):
        timer_id = draw(st.sampled_from(sim.timers))
        if draw(st.booleans()):
            sim.add(TimerFired(agent=AGENT, seq=seq, at=at, timer_id=timer_id, text="wake up"))
        else:
            sim.add(TimerCancelled(agent=AGENT, seq=seq, at=at, timer_id=timer_id))
            sim.timers.remove(timer_id)
        return
    timer_id = f"t-{seq}"
    every = draw(st.none() | st.just(60.0))
    sim.add(TimerSet(agent=AGENT, seq=seq, at=at, timer_id=timer_id, due=at + 60, every=every))
    sim.timers.append(timer_id)


def _edit(draw: st.DrawFn, sim: _Sim) -> None:
    seq, at = sim.seq, sim.at
    if draw(st.integers(0, 4)) == 0:
        label = f"notes{seq}"
        spec = BlockSpec(label=label, limit=draw(st.integers(10, 100)))
        value = draw(st.text(max_size=10))
        sim.blocks[label] = spec
        sim.values[label] = value
        event = CoreMemoryEdited(
            agent=AGENT, seq=seq, at=at, block=label, op="create", value=value, spec=spec
        )
        sim.add(event)
        return
    editable = sorted(label for label, spec in sim.blocks.items() if not spec.read_only)
    label = draw(st.sampled_from(editable))
    value = draw(st.text(max_size=sim.blocks[label].limit))
    sim.values[label] = value
    op: EditOp = draw(st.sampled_from(["append", "replace", "rewrite"]))
    sim.add(CoreMemoryEdited(agent=AGENT, seq=seq, at=at, block=label, op=op, value=value))


def _misc(draw: st.DrawFn, sim: _Sim) -> None:
    seq, at = sim.seq, sim.at
    kind = draw(st.sampled_from(["step_limited", "error", "source"]))
    if kind == "step_limited":
        sim.add(StepLimited(agent=AGENT, seq=seq, at=at, steps=10))
    elif kind == "error":
        sim.add(ErrorEvent(agent=AGENT, seq=seq, at=at, kind="llm_unreachable", message="down"))
    else:
        source = draw(st.sampled_from(["handbook", "wiki"]))
        sim.add(SourceAttached(agent=AGENT, seq=seq, at=at, source=source))


# --- oracles, from the events alone ------------------------------------------------


def message_events(events: list[Event]) -> list[Event]:
    """The events that put a message in the queue (so, in recall)."""
    messages: list[Event] = []
    for event in events:
        if isinstance(event, LLMResponded):
            if event.content or event.tool_calls:
                messages.append(event)
        elif isinstance(
            event,
            UserMessage
            | ExternalEvent
            | TimerFired
            | AgentMessage
            | MemoryPressure
            | StepLimited
            | ToolReturned,
        ):
            messages.append(event)
    return messages


def valid_cut_seqs(events: list[Event]) -> list[int]:
    """Seqs of queue messages after which a compaction may cut: no logged result is
    separated from its call (call ids are unique in :func:`histories`)."""
    through = max((e.through_seq for e in events if isinstance(e, ContextCompacted)), default=0)
    queue = [e for e in message_events(events) if e.seq > through]
    cuts = []
    for i, event in enumerate(queue):
        evicted_calls = {
            call.id for e in queue[: i + 1] if isinstance(e, LLMResponded) for call in e.tool_calls
        }
        kept_results = {e.call_id for e in queue[i + 1 :] if isinstance(e, ToolReturned)}
        if not evicted_calls & kept_results:
            cuts.append(event.seq)
    return cuts


def assert_api_valid(messages: tuple[ChatMessage, ...]) -> None:
    """A chat completions API would accept the roles and tool pairing of ``messages``:
    one system message first; each assistant message with tool calls is followed at
    once by exactly one tool message per call; no other tool message exists."""
    assert messages
    assert messages[0].role == "system"
    assert all(m.role != "system" for m in messages[1:])
    i = 1
    while i < len(messages):
        message = messages[i]
        assert message.role != "tool", f"tool message without its call at {i}: {message}"
        if message.role == "assistant":
            assert message.content is not None or message.tool_calls
            expected = [call.id for call in message.tool_calls]
            answers = messages[i + 1 : i + 1 + len(expected)]
            assert [m.role for m in answers] == ["tool"] * len(expected)
            assert sorted(m.tool_call_id or "" for m in answers) == sorted(expected)
            i += len(expected)
        i += 1


def replace_window(events: list[Event], window: int) -> list[Event]:
    """``events`` with the agent's context window set to ``window``."""
    first = events[0]
    assert isinstance(first, AgentCreated)
    return [msgspec.structs.replace(first, context_window=window), *events[1:]]


def recall_events(events: list[Event]) -> list[Event]:
    """The events recall indexes (what ``count_recall`` counts)."""
    return [event for event in events if message_of(event) is not None]
