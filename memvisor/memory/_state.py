"""The agent's state as a pure fold of its log.

```
event ──► fold(state, event) ──► state'          fold_all(events) = reduce(fold, events)

event                           what it does to the state
agent_created                   setup: system prompt, model, context window, core memory
user_message, external_event,   a user message enters the FIFO queue
  timer_fired, agent_message
memory_pressure                 a system alert enters the queue; pressure counts as alerted
step_limited                    a system alert enters the queue ("your turn was cut")
llm_responded                   its assistant message (thoughts + tool calls) enters the queue;
                                its reported prompt tokens become last_prompt_tokens
tool_returned                   a tool message paired with its call (a note if the call is gone)
core_memory_edited              the block holds the new value
context_compacted               messages with seq <= through_seq leave the queue; new summary;
                                pressure and reported tokens reset
context_rewound                 messages with seq >= from_seq leave the queue (a person's
                                /pop or /retry); reported tokens reset
timer_set, timer_cancelled      the set of armed timers (re-armed after a restart)
source_attached                 the list of attached data sources; their passages count
                                in archival_count
tool_returned (ok, of           one more passage in archival_count
  archival_memory_insert)
heartbeats_paused               timers firing before ``until`` do not make the agent step
tool_called, assistant_message, nothing the model sees: the call is in the assistant message,
  error                         the reply in its send_message call, errors are for operators
```

Invariants:

* Pure and total: no I/O, no clock, no randomness, and every well-ordered log
  folds without error (a logged edit is applied as written, an orphan tool
  result becomes a note). Same events, same state; fold(fold_all(a), b…) ==
  fold_all(a + b).
* The queue is in log order (``seq`` ascending) and every ``tool`` message in
  it answers a call of an ``assistant`` message earlier in the queue; no call
  has two answers.
* ``recall_count`` counts the events recall indexes (``message_of``), the same
  number ``EventLog.count_recall`` reports; compaction never lowers it (the
  messages stay in the log, hence in recall).
"""

from collections.abc import Iterable
from typing import Self, assert_never

import msgspec

from .._exceptions import UsageError
from ..events import (
    AgentCreated,
    AgentMessage,
    AssistantMessage,
    ContextCompacted,
    ContextRewound,
    CoreMemoryEdited,
    ErrorEvent,
    Event,
    ExternalEvent,
    HeartbeatsPaused,
    LLMResponded,
    MemoryPressure,
    SourceAttached,
    StepLimited,
    TimerCancelled,
    TimerFired,
    TimerSet,
    ToolCalled,
    ToolReturned,
    UserMessage,
)
from ..events._recall import message_of
from ._core import ARCHIVAL_INSERT, CoreMemory, apply_edit
from ._messages import (
    ChatMessage,
    orphan_result,
    render_input,
    render_response,
    render_tool_result,
)
from ._tokens import message_tokens

__all__ = ["AgentState", "QueuedMessage", "fold", "fold_all", "pair_results"]

_json = msgspec.json.Encoder()

"""The function whose successful results each add one passage to archival memory."""


class QueuedMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A message in the FIFO queue, with the event it came from."""

    seq: int
    """The ``seq`` of the event that put it there."""
    message: ChatMessage
    tokens: int
    """Its estimated tokens (see ``_tokens.message_tokens``)."""
    encoded: bytes = b""
    """Its canonical JSON, made once when it is queued (the prompt hash reuses it)."""

    @classmethod
    def of(cls, seq: int, message: ChatMessage) -> Self:
        """The entry for ``message``, its token estimate and JSON computed once."""
        return cls(
            seq=seq,
            message=message,
            tokens=message_tokens(message),
            encoded=_json.encode(message),
        )


class AgentState(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the agent knows, as folded from its log."""

    agent: str = ""
    last_seq: int = 0
    """The ``seq`` of the last event folded (0: none yet)."""
    model: str | None = None
    system: str = ""
    """The system prompt."""
    context_window: int = 8192
    """Context window of the model, in tokens."""
    memory: CoreMemory = CoreMemory()
    queue: tuple[QueuedMessage, ...] = ()
    """The FIFO message queue, oldest first."""
    summary: str | None = None
    """The recursive summary of every message evicted so far."""
    recall_count: int = 0
    """Messages that ever entered the queue (all of them are in recall)."""
    last_prompt_tokens: int | None = None
    """Prompt tokens the server reported for the last response; ``None`` before the
    first report and after a compaction (the figure then describes a context gone)."""
    pressure_alerted: bool = False
    """A memory-pressure alert was sent since the last compaction."""
    compactions: int = 0
    timers: tuple[TimerSet, ...] = ()
    """Armed timers, in the order they were set."""
    sources: tuple[str, ...] = ()
    """Attached data sources, in the order they were attached."""
    archival_count: int = 0
    """Passages in the agent's archival memory as the log tells it: those of its
    attached sources (counted when attached) and those it inserted itself. This is
    what the prompt shows, so no command needs to open the archival store for it."""
    paused_until: float | None = None
    """Timed heartbeats are paused until then (``pause_heartbeats``)."""


def fold(state: AgentState, event: Event) -> AgentState:
    """The state after ``event``.

    Raises:
        UsageError: ``event`` does not continue the log folded so far (another
            agent's, or not the next ``seq``).
    """
    _check_order(state, event)
    # Recall holds exactly the events the log indexes as messages (events/_recall.py),
    # so "N messages in recall" agrees with what conversation_search can find.
    state = msgspec.structs.replace(
        state,
        agent=event.agent,
        last_seq=event.seq,
        recall_count=state.recall_count + (message_of(event) is not None),
    )
    match event:
        case UserMessage() | ExternalEvent() | AgentMessage() | StepLimited():
            new = _enqueue(state, event.seq, render_input(event))
        case TimerFired():
            new = _fold_timer_fired(state, event)
        case MemoryPressure():
            new = _enqueue(state, event.seq, render_input(event))
            new = msgspec.structs.replace(new, pressure_alerted=True)
        case LLMResponded():
            new = _fold_response(state, event)
        case ToolReturned():
            new = _fold_tool_result(state, event)
        case CoreMemoryEdited():
            new = msgspec.structs.replace(state, memory=apply_edit(state.memory, event))
        case ContextCompacted():
            new = _fold_compaction(state, event)
        case ContextRewound():
            kept = tuple(entry for entry in state.queue if entry.seq < event.from_seq)
            new = msgspec.structs.replace(state, queue=kept, last_prompt_tokens=None)
        case AgentCreated():
            new = _fold_created(state, event)
        case TimerSet() | TimerCancelled() | SourceAttached() | HeartbeatsPaused():
            new = _fold_bookkeeping(state, event)
        case ToolCalled() | AssistantMessage() | ErrorEvent():
            new = state
        case _:
            assert_never(event)
    return new


def fold_all(events: Iterable[Event], *, state: AgentState | None = None) -> AgentState:
    """Fold ``events`` in order, from ``state`` (default: before the first event)."""
    current = AgentState() if state is None else state
    for event in events:
        current = fold(current, event)
    return current


def pair_results(queue: tuple[QueuedMessage, ...]) -> dict[int, list[int]]:
    """For each ``assistant`` message with tool calls, the queue indexes of its results.

    A ``tool`` message answers the latest earlier assistant message that made
    its call (call ids may repeat across responses, e.g. from a scripted model).
    """
    latest: dict[str, int] = {}
    groups: dict[int, list[int]] = {}
    for i, entry in enumerate(queue):
        message = entry.message
        if message.role == "assistant":
            for call in message.tool_calls:
                latest[call.id] = i
            if message.tool_calls:
                groups[i] = []
        elif message.role == "tool" and message.tool_call_id in latest:
            groups[latest[message.tool_call_id]].append(i)
    return groups


def _check_order(state: AgentState, event: Event) -> None:
    if state.last_seq and event.agent != state.agent:
        raise UsageError(
            f"cannot fold an event of {event.agent!r} into the state of {state.agent!r}",
            actor_id=event.agent,
            seq=event.seq,
        )
    if event.seq != state.last_seq + 1:
        raise UsageError(
            f"cannot fold seq {event.seq} after seq {state.last_seq}: a log has no gaps",
            actor_id=event.agent,
            seq=event.seq,
        )


def _enqueue(state: AgentState, seq: int, message: ChatMessage) -> AgentState:
    entry = QueuedMessage.of(seq, message)
    return msgspec.structs.replace(state, queue=(*state.queue, entry))


def _fold_timer_fired(state: AgentState, event: TimerFired) -> AgentState:
    new = _enqueue(state, event.seq, render_input(event))
    timers = tuple(
        timer
        for timer in state.timers
        if timer.timer_id != event.timer_id or timer.every is not None or timer.cron is not None
    )
    return msgspec.structs.replace(new, timers=timers)


def _fold_bookkeeping(
    state: AgentState, event: TimerSet | TimerCancelled | SourceAttached | HeartbeatsPaused
) -> AgentState:
    """Events that change what the agent keeps track of, not what it reads."""
    match event:
        case SourceAttached():
            return _fold_source(state, event)
        case HeartbeatsPaused():
            return msgspec.structs.replace(state, paused_until=event.until)
        case _:
            return _fold_timers(state, event)


def _fold_timers(state: AgentState, event: TimerSet | TimerCancelled) -> AgentState:
    timers = tuple(timer for timer in state.timers if timer.timer_id != event.timer_id)
    if isinstance(event, TimerSet):
        timers = (*timers, event)
    return msgspec.structs.replace(state, timers=timers)


def _fold_response(state: AgentState, event: LLMResponded) -> AgentState:
    reported = event.usage.prompt_tokens
    state = msgspec.structs.replace(state, last_prompt_tokens=reported if reported > 0 else None)
    message = render_response(event)
    return state if message is None else _enqueue(state, event.seq, message)


def _fold_source(state: AgentState, event: SourceAttached) -> AgentState:
    if event.source in state.sources:
        return state
    return msgspec.structs.replace(
        state,
        sources=(*state.sources, event.source),
        archival_count=state.archival_count + event.passages,
    )


def _fold_tool_result(state: AgentState, event: ToolReturned) -> AgentState:
    if event.name == ARCHIVAL_INSERT and event.status == "ok":
        state = msgspec.structs.replace(state, archival_count=state.archival_count + 1)
    message = render_tool_result(event)
    if not _awaits_result(state.queue, event.call_id):
        message = orphan_result(message)
    return _enqueue(state, event.seq, message)


def _awaits_result(queue: tuple[QueuedMessage, ...], call_id: str) -> bool:
    """Whether the latest assistant message calling ``call_id`` has no answer yet."""
    for entry in reversed(queue):
        message = entry.message
        if message.role == "tool" and message.tool_call_id == call_id:
            return False
        if message.role == "assistant" and any(call.id == call_id for call in message.tool_calls):
            return True
    return False


def _fold_compaction(state: AgentState, event: ContextCompacted) -> AgentState:
    kept = tuple(entry for entry in state.queue if entry.seq > event.through_seq)
    return msgspec.structs.replace(
        state,
        queue=_repair_orphans(kept),
        summary=event.summary,
        last_prompt_tokens=None,
        pressure_alerted=False,
        compactions=state.compactions + 1,
    )


def _repair_orphans(queue: tuple[QueuedMessage, ...]) -> tuple[QueuedMessage, ...]:
    """Re-read as notes the tool messages whose call left the queue.

    Compaction plans never cut between a call and its results, so this only
    matters for a hand-written ``context_compacted``; the fold stays total.
    """
    paired = {j for results in pair_results(queue).values() for j in results}
    repaired = []
    for j, entry in enumerate(queue):
        if entry.message.role == "tool" and j not in paired:
            message = orphan_result(entry.message)
            repaired.append(QueuedMessage.of(entry.seq, message))
        else:
            repaired.append(entry)
    return tuple(repaired)


def _fold_created(state: AgentState, event: AgentCreated) -> AgentState:
    """Set the agent up. A second ``agent_created`` resets the setup and keeps the conversation."""
    return msgspec.structs.replace(
        state,
        model=event.model,
        system=event.system,
        context_window=event.context_window,
        memory=CoreMemory.from_specs(event.blocks),
    )
