"""One turn of an agent as a pure state machine: given the log so far, what next.

```
 inbound event ─► Step ─► llm_responded ─► RunCall ─► tool_called … tool_returned ─┐
 (user, webhook,   ▲                        (one per call of the response)          │
  timer, agent)    │                                                                 ▼
                   └──── heartbeat or failed call ◄── Compact / Alert (when due) ◄───┘
                         (at most max_steps LLM calls, then Limit)      no more to do: Yield
```

:class:`Turn` is folded from the same events as the agent's state
(:func:`advance`), and :func:`next_action` reads both and says what the agent
does next. The agent's actor only carries out actions and logs what happened;
every decision is here. So the same decisions come out of a live run, a restart
after a crash (the turn is folded from the log and goes on where it stopped),
and a replay that feeds the logged answers back in.

Invariants:

* Pure: no I/O, no clock. The same state, turn and config give the same action
  (and the same prompt, hence the same prompt hash).
* Bounded: every action but :class:`Yield` leads to an event that moves the
  turn on; a turn makes at most ``max_steps`` LLM calls (an overflow counts as
  one), then :class:`Limit`.
* A call recorded as ``tool_called`` without its ``tool_returned`` (the process
  died while it ran) is never silently dropped: :class:`Recover` comes first.

Messages between agents are decided here too, from the log alone:
:func:`outgoing` says what an ``assistant_message`` to another agent becomes
in the recipient's mailbox (a reply, when the turn answers that agent's ask),
and :func:`answered_ask` which waiting ask an incoming reply settles.
"""

from __future__ import annotations

import msgspec

from ..events import (
    AgentMessage,
    AssistantMessage,
    ContextCompacted,
    ErrorEvent,
    Event,
    ExternalEvent,
    LLMResponded,
    MemoryPressure,
    StepLimited,
    TimerFired,
    ToolCall,
    ToolCalled,
    ToolReturned,
    UserMessage,
)
from ..llm._content_calls import parse_call_from_content
from ..llm._types import LLMRequest, ToolSchema
from ..memory._compaction import (
    CannotCompact,
    CompactionConfig,
    Evict,
    NoCompaction,
    PressureAlert,
    plan_compaction,
)
from ..memory._context import compile_prompt
from ..memory._state import AgentState
from ..memory._tokens import estimate_text

TOOL_OVERHEAD = 8
"""Tokens a function definition costs besides its text (its wrapping, as servers count)."""

__all__ = [
    "OVERFLOW",
    "Action",
    "Alert",
    "Compact",
    "Fail",
    "Limit",
    "Recover",
    "RunCall",
    "Step",
    "Turn",
    "TurnConfig",
    "Yield",
    "advance",
    "answered_ask",
    "calls_of",
    "next_action",
    "outgoing",
    "tools_tokens",
]

OVERFLOW = "context_overflow"
"""The ``kind`` of the error event logged when the server refused a prompt as too long."""


class TurnConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How far a turn may go."""

    max_steps: int = 10
    """LLM calls per inbound event; one more heartbeat is refused with ``step_limited``."""
    compaction: CompactionConfig = CompactionConfig()
    temperature: float | None = None
    """Sampling temperature for the agent's steps; ``None`` leaves it to the server."""


class Turn(msgspec.Struct, frozen=True, kw_only=True):
    """Where the current turn stands, folded from the log with :func:`advance`."""

    cause: int | None = None
    """The ``seq`` of the inbound event that started the turn."""
    steps: int = 0
    """LLM calls made in this turn (overflows included)."""
    response: int | None = None
    """The ``seq`` of the last ``llm_responded`` (the cause of its calls)."""
    calls: tuple[ToolCall, ...] = ()
    """Calls of the last response that have not been made yet, in order."""
    running: ToolCalled | None = None
    """A call logged as started whose result is not logged yet."""
    again: bool = False
    """Something asks for a step: an inbound event, a heartbeat, a failed call, an alert."""
    overflow: bool = False
    """The last step's prompt was refused as too long: compact before stepping again."""
    reply_to: AgentMessage | None = None
    """The ask (an ``agent_message`` with a ``request_id``) that started this turn: the
    turn's messages to its sender are the answer (see :func:`outgoing`)."""

    @property
    def idle(self) -> bool:
        """Nothing left to do: the agent waits for the next event."""
        return not (self.again or self.calls or self.running is not None)


# --- actions -----------------------------------------------------------------------------


class Step(msgspec.Struct, frozen=True, kw_only=True):
    """Call the LLM with ``request``; log its answer as ``llm_responded``."""

    request: LLMRequest
    prompt_hash: str
    parts: tuple[bytes, ...]
    """The messages' canonical JSON, which ``prompt_hash`` is the hash of (for the
    prompt store)."""


class RunCall(msgspec.Struct, frozen=True, kw_only=True):
    """Log ``tool_called`` for ``call``, run it, log its effects and ``tool_returned``."""

    call: ToolCall


class Recover(msgspec.Struct, frozen=True, kw_only=True):
    """``called`` started but its result was never logged: run it again if that is
    safe, else report it to the model as interrupted."""

    called: ToolCalled


class Compact(msgspec.Struct, frozen=True, kw_only=True):
    """Summarize the messages ``plan`` evicts and log ``context_compacted``."""

    plan: Evict


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """Log ``memory_pressure``: the model is told to save what matters."""

    alert: PressureAlert


class Limit(msgspec.Struct, frozen=True, kw_only=True):
    """The turn used its steps: log ``step_limited`` and yield."""

    steps: int


class Fail(msgspec.Struct, frozen=True, kw_only=True):
    """The turn cannot go on: log an ``error`` event and yield."""

    kind: str
    message: str


class Yield(msgspec.Struct, frozen=True, kw_only=True):
    """Nothing left to do until the next inbound event."""


Action = Step | RunCall | Recover | Compact | Alert | Limit | Fail | Yield
"""What :func:`next_action` decides. ``match`` over it ends with ``assert_never``."""


# --- the fold ----------------------------------------------------------------------------


def advance(turn: Turn, event: Event, state: AgentState) -> Turn:
    """The turn after ``event``; ``state`` is the agent's state with ``event`` folded in."""
    new = turn
    match event:
        case UserMessage() | ExternalEvent() | AgentMessage() | TimerFired():
            if not (isinstance(event, TimerFired) and _paused(state, event.at)):
                # (a timer firing while heartbeats are paused is logged, and waits)
                ask = event if isinstance(event, AgentMessage) and event.request_id else None
                new = (
                    Turn(cause=event.seq, again=True, reply_to=ask)
                    if turn.idle
                    else msgspec.structs.replace(turn, again=True, reply_to=turn.reply_to or ask)
                )
        case LLMResponded():
            new = msgspec.structs.replace(
                turn,
                steps=turn.steps + 1,
                response=event.seq,
                calls=calls_of(event),
                again=False,
                overflow=False,
            )
        case ToolCalled():
            new = msgspec.structs.replace(
                turn, calls=_without(turn.calls, event.call_id), running=event
            )
        case ToolReturned():
            again = turn.again or event.heartbeat or event.status == "error"
            new = msgspec.structs.replace(turn, running=None, again=again)
        case MemoryPressure():
            new = msgspec.structs.replace(turn, again=True)
        case ContextCompacted():
            new = msgspec.structs.replace(turn, overflow=False)
        case ErrorEvent(kind=kind) if kind == OVERFLOW:
            new = msgspec.structs.replace(turn, steps=turn.steps + 1, overflow=True, again=True)
        case StepLimited() | ErrorEvent():
            new = msgspec.structs.replace(turn, calls=(), running=None, again=False)
        case _:
            pass
    return new


def calls_of(event: LLMResponded) -> tuple[ToolCall, ...]:
    """The calls a response makes: its ``tool_calls``, else one written as JSON in its text.

    A call recovered from the text gets the id ``content-<seq>``, so the same
    response always yields the same call.
    """
    if event.tool_calls:
        return event.tool_calls
    if event.content:
        call = parse_call_from_content(event.content, call_id=f"content-{event.seq}")
        if call is not None:
            return (call,)
    return ()


def _without(calls: tuple[ToolCall, ...], call_id: str) -> tuple[ToolCall, ...]:
    for i, call in enumerate(calls):
        if call.id == call_id:
            return calls[:i] + calls[i + 1 :]
    return calls


def _paused(state: AgentState, at: float) -> bool:
    return state.paused_until is not None and at < state.paused_until


# --- messages between agents -------------------------------------------------------------


def outgoing(event: Event, turn: Turn) -> AgentMessage | None:
    """What ``event``, logged in ``turn``, delivers to another agent: nothing unless
    it is an ``assistant_message`` with a ``to``.

    The recipient logs it as an ``agent_message`` from this agent whose ``cause``
    is ``event.seq`` (a seq of the sender's log). It carries the ask's
    ``request_id`` when ``event`` asks for a reply, and ``in_reply_to`` when the
    turn answers an ask of the recipient's: a message to the asker during that
    turn is the answer.
    """
    if not isinstance(event, AssistantMessage) or event.to is None:
        return None
    ask = turn.reply_to
    in_reply_to = None
    if ask is not None and event.request_id is None and event.to == ask.sender:
        in_reply_to = ask.request_id
    return AgentMessage(
        agent=event.to,
        seq=0,
        at=0.0,
        cause=event.seq,
        sender=event.agent,
        text=event.text,
        request_id=event.request_id,
        in_reply_to=in_reply_to,
    )


def answered_ask(state: AgentState, message: AgentMessage) -> str | None:
    """The id of the timeout timer that ``message`` settles, if it answers an ask the
    agent still waits on; else ``None`` (not a reply, or it came after the timeout).

    ``ask_agent`` names an ask ``ask-<seq of its call>`` and its timer the same,
    so a reply can never cancel a timer set for another purpose.
    """
    reply_to = message.in_reply_to
    if reply_to is None or not reply_to.startswith("ask-"):
        return None
    if not any(t.timer_id == reply_to for t in state.timers):
        return None
    return reply_to


# --- the decision ------------------------------------------------------------------------


def next_action(
    state: AgentState,
    turn: Turn,
    *,
    tools: tuple[ToolSchema, ...],
    config: TurnConfig,
    model: str,
    tool_tokens: int | None = None,
) -> Action:
    """What the agent does next (see the module's diagram).

    Args:
        state: The agent's folded state.
        turn: The turn folded from the same events.
        tools: The functions the model may call.
        config: Limits and thresholds.
        model: The model to ask when the agent's log names none.
        tool_tokens: :func:`tools_tokens` of ``tools``, if already known (it is not
            cheap: a caller stepping often computes it once).
    """
    if turn.running is not None:
        return Recover(called=turn.running)
    if turn.calls:
        return RunCall(call=turn.calls[0])
    fixed = tools_tokens(tools) if tool_tokens is None else tool_tokens
    upkeep = _memory_upkeep(state, turn, config.compaction, fixed)
    if upkeep is not None:
        return upkeep
    if not turn.again:
        return Yield()
    if turn.steps >= config.max_steps:
        return Limit(steps=turn.steps)
    context = compile_prompt(state, archival_count=state.archival_count)
    request = LLMRequest(
        model=state.model or model,
        messages=context.messages,
        tools=tools,
        temperature=config.temperature,
    )
    return Step(request=request, prompt_hash=context.prompt_hash, parts=context.parts)


def tools_tokens(tools: tuple[ToolSchema, ...]) -> int:
    """Estimated tokens the function schemas add to every request."""
    return sum(
        TOOL_OVERHEAD
        + estimate_text(t.name)
        + estimate_text(t.description)
        + len(t.parameters) // 4
        for t in tools
    )


def _memory_upkeep(
    state: AgentState, turn: Turn, config: CompactionConfig, fixed_tokens: int
) -> Compact | Alert | Fail | None:
    """Compaction's decision between steps: evict, alert, give up, or nothing."""
    plan = plan_compaction(
        state,
        config,
        overflow=turn.overflow,
        archival_count=state.archival_count,
        fixed_tokens=fixed_tokens,
    )
    match plan:
        case Evict():
            return Compact(plan=plan)
        case PressureAlert():
            return Alert(alert=plan)
        case CannotCompact() if turn.overflow:
            return Fail(
                kind="cannot_compact",
                message="the prompt is too long for the model and nothing can be evicted:"
                f" {plan.reason}",
            )
        case CannotCompact() | NoCompaction():
            return None
