"""``replay --check``: run the agent's own logic over its log, and compare.

```
 log:  agent_created  user_message  llm_responded  tool_called  core_memory_edited …
          │ fold         │ fold        │ expects      │ expects      │ expects
          ▼              ▼             ▼ Step,        ▼ RunCall      ▼ (the built-in run
 code: state, turn ──► next_action ──► same prompt ─► same call ──►  again: same events)
```

The log's LLM responses and the results of functions that reach outside the
agent (recall and archival search, messaging, user tools) stand in for live
calls. Everything else is the code of today deciding again: at each event the
agent logged itself, :func:`~memvisor.agent.next_action` must have chosen the
action that logs it, a step must compile the very prompt that was sent (its
hash is in ``llm_responded``), and the built-ins that compute their result from
the agent's state alone are run again and must log the same events.

Invariants:

* Pure but for running those built-ins (on the event loop, no I/O): the same
  log, functions and config give the same report.
* The first divergence is reported at the seq where the code parts ways with
  the log: where it logs something else, or, when the code would have gone on
  where the agent waited for the next event, at that next event.
* A log cut short by a crash checks clean: a turn finished after a restart is
  the same turn (the agent finishes an interrupted turn before anything else).
"""

from collections.abc import Iterable, Sequence

import msgspec

from .._exceptions import UsageError
from ..agent._builtins import builtin_registry
from ..agent._toolkit import ToolContext, stamp
from ..agent._tools import ToolLimits, run_call
from ..agent._turn import (
    OVERFLOW,
    Action,
    Alert,
    Compact,
    Fail,
    Limit,
    Recover,
    RunCall,
    Step,
    Turn,
    TurnConfig,
    Yield,
    advance,
    next_action,
    tools_tokens,
)
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
    MemoryEventLog,
    MemoryPressure,
    SourceAttached,
    StepLimited,
    TimerCancelled,
    TimerFired,
    TimerSet,
    ToolCall,
    ToolCalled,
    ToolReturned,
    UserMessage,
)
from ..llm._functions import CallRejected
from ..llm._types import ToolSchema
from ..memory._archival_model import ArchivalStore
from ..memory._compaction import compaction_event
from ..memory._messages import ChatMessage
from ..memory._state import AgentState, fold
from ._describe import describe_action, describe_difference, describe_event, short_hash

__all__ = ["RERUN_FUNCTIONS", "CheckReport", "Divergence", "check_replay", "offered_tools"]

RERUN_FUNCTIONS = frozenset(
    {"send_message", "pause_heartbeats", "core_memory_append", "core_memory_replace", "set_timer"}
)
"""Built-ins whose result depends on the agent's state and the call alone: run again."""

_EXTERNAL = (
    UserMessage,
    ExternalEvent,
    AgentMessage,
    TimerFired,
    ContextRewound,
    SourceAttached,
)
_EFFECTS = (AssistantMessage, CoreMemoryEdited, TimerSet, TimerCancelled, HeartbeatsPaused)
_LLM_FAILURES = frozenset({OVERFLOW, "llm_error"})


class Divergence(msgspec.Struct, frozen=True, kw_only=True):
    """Where the code of today parts ways with the log."""

    seq: int
    """The seq of the logged event that the code does not produce."""
    expected: str
    """What the log holds there."""
    produced: str
    """What the code does there."""
    logged_hash: str | None = None
    """When a step compiled another prompt: the hash of the prompt that was sent."""
    prompt: tuple[ChatMessage, ...] = ()
    """When a step compiled another prompt: the prompt compiled now."""


class CheckReport(msgspec.Struct, frozen=True, kw_only=True):
    """What :func:`check_replay` went through, and where it stopped."""

    events: int
    """Events checked (up to and including a divergence)."""
    steps: int
    """LLM steps whose prompt was compiled again and compared."""
    reran: int
    """Function calls run again and compared."""
    compactions: int
    """Compactions planned again and compared."""
    divergence: Divergence | None = None
    unfinished: bool = False
    """The log ends in the middle of a turn (the agent was stopped, or still runs)."""


async def check_replay(
    events: Iterable[Event],
    *,
    tools: tuple[ToolSchema, ...] | None = None,
    config: TurnConfig = TurnConfig(),  # noqa: B008 (frozen)
    system: str | None = None,
) -> CheckReport:
    """Replay ``events`` (one agent's log, from its first event) through the agent's
    logic and report the first divergence, if any.

    Args:
        events: The log.
        tools: The function schemas the agent was offered (they weigh in its
            compaction decisions); default: the built-ins, with the messaging
            functions if the log shows any message between agents.
        config: The turn's limits and compaction thresholds to check against.
        system: A system prompt to check against instead of the logged one.

    Raises:
        UsageError: the log does not begin with ``agent_created``.
    """
    events = list(events)
    if not events or not isinstance(events[0], AgentCreated):
        raise UsageError("a log to check must begin with its agent_created event")
    if system is not None:
        events[0] = msgspec.structs.replace(events[0], system=system)
    checker = _Checker(tools if tools is not None else offered_tools(events), config)
    for event in events:
        divergence = await checker.feed(event)
        if divergence is not None:
            return checker.report(divergence)
    return checker.report(checker.finish())


def offered_tools(events: Sequence[Event]) -> tuple[ToolSchema, ...]:
    """The built-in functions an agent was offered, as its log tells: with the
    messaging functions if it ever sent or received a message of another agent."""
    messaging = any(
        isinstance(e, AgentMessage) or (isinstance(e, AssistantMessage) and e.to is not None)
        for e in events
    )
    return builtin_registry(messaging=messaging).tool_schemas()


class _Checker:
    def __init__(self, tools: tuple[ToolSchema, ...], config: TurnConfig) -> None:
        self._tools = tools
        self._tool_tokens = tools_tokens(tools)
        self._config = config
        self._registry = builtin_registry(messaging=True)
        self._recall = MemoryEventLog()  # never searched: the re-run built-ins do not
        self._state = AgentState()
        self._turn = Turn()
        self._action: Action | None = None
        self._expected: list[Event] = []  # what a re-run built-in logs, in order
        self._owed: tuple[int, Event, Action] | None = None
        self._after_external = True  # agent_created: no turn ran before it
        self._events = self._steps = self._reran = self._compactions = 0

    def report(self, divergence: Divergence | None) -> CheckReport:
        return CheckReport(
            events=self._events,
            steps=self._steps,
            reran=self._reran,
            compactions=self._compactions,
            divergence=divergence,
            unfinished=divergence is None and not self._turn.idle,
        )

    async def feed(self, event: Event) -> Divergence | None:
        self._events += 1
        if self._events > 1:
            divergence = self._compare(event)
            if divergence is not None:
                return divergence
        self._state = fold(self._state, event)
        self._turn = advance(self._turn, event, self._state)
        self._action = None
        if isinstance(event, ToolCalled) and event.name in RERUN_FUNCTIONS:
            self._expected = await self._rerun(event)
        return None

    def finish(self) -> Divergence | None:
        """At the end of the log: a code that would still act where the agent stopped."""
        if self._owed is not None:
            return self._owed_divergence()
        action = self._next()
        if self._turn.idle and not self._after_external and not isinstance(action, Yield):
            return Divergence(
                seq=self._state.last_seq + 1,
                expected="the end of the log (the agent waited for the next event)",
                produced=describe_action(action),
            )
        return None

    # --- comparing -----------------------------------------------------------------------

    def _next(self) -> Action:
        if self._action is None:
            self._action = next_action(
                self._state,
                self._turn,
                tools=self._tools,
                config=self._config,
                model="",
                tool_tokens=self._tool_tokens,
            )
        return self._action

    def _compare(self, event: Event) -> Divergence | None:
        action = self._next()
        if self._is_external(event):
            if self._turn.idle or self._after_external:
                if not isinstance(action, Yield) and not self._after_external:
                    # The code would have gone on after the agent's last event instead
                    # of waiting; a restart after a crash acts after this event
                    # instead: the agent's next event settles which it is.
                    self._owed = self._owed or (event.seq, event, action)
                self._after_external = True
                return None
            return self._diverged(event, action)
        self._after_external = False
        divergence = self._compare_own(event, action)
        if divergence is not None and self._owed is not None:
            return self._owed_divergence()
        self._owed = None
        return divergence

    def _is_external(self, event: Event) -> bool:
        """Logged from outside a turn: inbound events, and amendments between turns."""
        if isinstance(event, _EXTERNAL):
            return True
        return isinstance(event, _EFFECTS) and self._turn.running is None

    def _compare_own(self, event: Event, action: Action) -> Divergence | None:
        """``event`` was logged by the agent in a turn: does ``action`` log it?"""
        match event, action:
            case LLMResponded(), Step():
                return self._compare_step(event, action)
            case ToolReturned() | AssistantMessage() | CoreMemoryEdited() | TimerSet() | (
                TimerCancelled() | HeartbeatsPaused()
            ), Recover():
                return self._compare_result(event, action)
            case ContextCompacted(), Compact():
                self._compactions += 1
                planned = compaction_event(
                    self._state,
                    action.plan,
                    event.summary,
                    seq=event.seq,
                    at=event.at,
                    cause=event.cause,
                )
                return self._same_event(event, planned)
            case MemoryPressure(), Alert():
                alert = action.alert.event(
                    agent=event.agent, seq=event.seq, at=event.at, cause=event.cause
                )
                return self._same_event(event, alert)
            case ErrorEvent(), Step():
                same = event.kind in _LLM_FAILURES  # the step was taken, and failed
            case ErrorEvent(), Fail():
                same = (event.kind, event.message) == (action.kind, action.message)
            case ToolCalled(), RunCall():
                call = action.call
                same = (event.call_id, event.name, event.arguments) == (
                    call.id,
                    call.name,
                    call.arguments,
                )
            case StepLimited(), Limit():
                same = event.steps == action.steps
            case _:
                same = False
        return None if same else self._diverged(event, action)

    @staticmethod
    def _same_event(logged: Event, produced: Event) -> Divergence | None:
        if logged == produced:
            return None
        expected, made = describe_difference(logged, produced)
        return Divergence(seq=logged.seq, expected=expected, produced=made)

    def _compare_step(self, event: LLMResponded, action: Step) -> Divergence | None:
        self._steps += 1
        if not event.prompt_hash or event.prompt_hash == action.prompt_hash:
            return None
        return Divergence(
            seq=event.seq,
            expected=f"llm_responded: an LLM step with prompt {short_hash(event.prompt_hash)}",
            produced=f"llm_responded: an LLM step with prompt {short_hash(action.prompt_hash)}",
            logged_hash=event.prompt_hash,
            prompt=action.request.messages,
        )

    def _compare_result(self, event: Event, action: Recover) -> Divergence | None:
        called = action.called
        if getattr(event, "cause", None) != called.seq:
            return self._diverged(event, action)
        if isinstance(event, ToolReturned) and event.call_id != called.call_id:
            return self._diverged(event, action)
        if called.name not in RERUN_FUNCTIONS:
            return None  # its result is the log's
        if not self._expected:
            return Divergence(
                seq=event.seq,
                expected=describe_event(event),
                produced=f"nothing more: {called.name} logged all it does",
            )
        wanted = msgspec.structs.replace(self._expected.pop(0), seq=event.seq, at=event.at)
        divergence = self._same_event(event, wanted)
        if divergence is not None:
            return divergence
        if isinstance(event, ToolReturned):
            self._reran += 1
        return None

    def _diverged(self, event: Event, action: Action) -> Divergence:
        return Divergence(
            seq=event.seq, expected=describe_event(event), produced=describe_action(action)
        )

    def _owed_divergence(self) -> Divergence:
        assert self._owed is not None
        seq, event, action = self._owed
        return Divergence(
            seq=seq,
            expected=f"{describe_event(event)} (the agent waited for it)",
            produced=describe_action(action),
        )

    # --- running built-ins again ---------------------------------------------------------

    async def _rerun(self, called: ToolCalled) -> list[Event]:
        parsed = self._registry.parse(self._call_of(called))
        if isinstance(parsed, CallRejected):
            return [self._returned(called, "error", parsed.message, heartbeat=True)]
        spec = self._registry.lookup(called.name)
        assert not isinstance(spec, CallRejected)
        context = ToolContext(
            state=self._state,
            call=called,
            log=self._recall,
            archival=_no_archival,
            reply_to=self._turn.reply_to,
        )
        result = await run_call(spec, parsed, context, ToolLimits(threads=False))
        effects: list[Event] = [
            stamp(effect, seq=0, at=0.0, cause=called.seq) for effect in result.effects
        ]
        returned = self._returned(called, result.status, result.content, parsed.heartbeat)
        return [*effects, returned]

    @staticmethod
    def _call_of(called: ToolCalled) -> ToolCall:
        return ToolCall(id=called.call_id, name=called.name, arguments=called.arguments)

    @staticmethod
    def _returned(called: ToolCalled, status: str, content: str, heartbeat: bool) -> ToolReturned:
        return ToolReturned(
            agent=called.agent,
            seq=0,
            at=0.0,
            cause=called.seq,
            call_id=called.call_id,
            name=called.name,
            status="ok" if status == "ok" else "error",
            content=content,
            heartbeat=heartbeat,
        )


async def _no_archival() -> ArchivalStore:
    raise UsageError("archival memory is not opened in a replay")
