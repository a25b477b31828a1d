"""The agent actor: the only writer of its log, and the shell around the turn machine.

```
Deliver(inbound) ─► append it ─► loop: action = next_action(state, turn)
   Step     ─► processor.ask ─► llm_responded (or error)
   RunCall  ─► tool_called ─► run the function ─► its effects + tool_returned
   Recover  ─► run a built-in again, or report a user tool as interrupted
   Compact  ─► processor.ask (the summary) ─► context_compacted
   Alert    ─► memory_pressure        Limit ─► step_limited        Fail ─► error
   Yield    ─► reply TurnReport(the events logged)
```

Every event is folded into both the state and the turn as soon as it is
made, so the decisions depend on the log alone; it becomes durable no later
than the next moment anything outside the agent could act on it. Events wait
in a small buffer and are appended together (one commit) before the LLM is
called, before a function that does I/O runs, and before the turn's report is
sent: a step that calls a pure built-in (``send_message``, a core memory edit)
costs one commit, not three. A crash loses only what no one has seen, and the
restarted agent redoes it from the log (an LLM call asked again, a pure
function run again). A function's effects and its ``tool_returned`` always
share a commit: a crash leaves all of them or none.

Messages to other agents (an ``assistant_message`` with ``to``) are delivered
right after the commit that makes them durable, with ``Runtime.deliver_soon``:
a full mailbox never blocks this agent's loop, so two agents asking each other
cannot deadlock. What each recipient logs is decided by ``_turn.outgoing``; an
answer to one of this agent's asks also cancels the ask's timeout timer.
Nothing sent is lost to a crash: a message lives in the sender's log before it
is delivered, and a mailbox is memory only, so an agent that starts delivers
again every message its log holds for the agents running beside it. A recipient
logs a message only if its ``cause`` (the seq of the sender's event) is past the
last one it logged from that sender (messages between two agents arrive in
order), so it logs each exactly once. (A start thus costs a mailbox message per
message the agent ever sent, each dropped at once by its recipient: a
watermark kept by the sender would need an acknowledgement back.)

Timers the agent set itself (``set_timer``) are armed on the runtime's clock
(``_alarms``) when their ``timer_set`` is logged, and again when the actor
starts (they are in the folded state), so they survive restarts. A firing arrives through the
mailbox like any other inbound event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, assert_never

import anyio
import msgspec

from .._exceptions import ActorError, UsageError
from ..actors import Actor, ActorRef
from ..events import (
    AgentCreated,
    AgentMessage,
    AssistantMessage,
    ContextRewound,
    ErrorEvent,
    Event,
    EventLog,
    ExternalEvent,
    LLMResponded,
    PromptRecorder,
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
from ..llm._functions import CallRejected, FunctionRegistry
from ..llm._types import LLMRequest
from ..memory._archival_model import ArchivalStore
from ..memory._compaction import Evict, compaction_event, evicted_messages
from ..memory._state import AgentState, fold
from ._alarms import Alarms, check_timer
from ._builtins import BUILTIN_FUNCTIONS
from ._processor import Completed, Failed, LLMCall, LLMOutcome, Overflowed
from ._summary import fallback_summary, summary_request
from ._toolkit import ToolContext, ToolResult, stamp
from ._tools import ToolLimits, run_call, runs_on_loop
from ._turn import (
    OVERFLOW,
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
    answered_ask,
    next_action,
    outgoing,
    tools_tokens,
)

if TYPE_CHECKING:
    from ._host import AgentDirectory

__all__ = [
    "AgentActor",
    "AgentConfig",
    "AgentRequest",
    "Amend",
    "Amendment",
    "Deliver",
    "Inbound",
    "TurnReport",
]

Inbound = UserMessage | ExternalEvent | AgentMessage | TimerFired
"""What a source delivers. Its ``agent``, ``seq`` and ``at`` are set by the agent."""


class AgentConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How an agent runs (not part of its log: a restart may change it)."""

    turn: TurnConfig = TurnConfig()
    tools: ToolLimits = ToolLimits()
    model: str = ""
    """The model to ask when the agent's log names none."""
    llm_timeout: float = 900.0
    """Seconds an LLM call may take, retries included, before the step fails."""


class Deliver(msgspec.Struct, frozen=True, kw_only=True):
    """An inbound event for the agent (its ``agent``, ``seq`` and ``at`` are ignored)."""

    event: Inbound
    more: tuple[Inbound, ...] = ()
    """Events that arrived with it (a backlog taken at once): all are logged, in
    order, and the model sees them together in one turn."""


Amendment = ContextRewound | SourceAttached | TimerSet | TimerCancelled
"""What a person or a host may log for an agent besides inbound events. Its ``agent``,
``seq`` and ``at`` are set by the agent."""


class Amend(msgspec.Struct, frozen=True, kw_only=True):
    """Log ``event`` for the agent (through its actor, its log's only writer), with no
    turn: rewind its context, attach a source, arm or disarm a timer.

    Raises:
        ConfigError: a ``timer_set`` whose cron expression or interval is unusable
            (refused here, before anything is logged).
    """

    event: Amendment

    def __post_init__(self) -> None:
        if isinstance(self.event, TimerSet):
            check_timer(self.event)


AgentRequest = Deliver | Amend
"""What an agent's mailbox takes."""


class TurnReport(msgspec.Struct, frozen=True, kw_only=True):
    """What handling one delivery logged, in order (the inbound event first, unless
    an interrupted turn was finished before it)."""

    events: tuple[Event, ...]

    @property
    def replies(self) -> tuple[str, ...]:
        """The visible replies to the user (``send_message``), in order; messages to
        other agents are not among them."""
        return tuple(
            e.text for e in self.events if isinstance(e, AssistantMessage) and e.to is None
        )


_REPEATABLE = frozenset(spec.name for spec in BUILTIN_FUNCTIONS)

Observer = Callable[[Event], None]
"""Called with every event the agent logs, right after it is durable."""

ArchivalOpener = Callable[[], Awaitable[ArchivalStore]]


class AgentActor(Actor[AgentRequest, TurnReport]):
    """One agent. Spawn it with :func:`spawn_agent` (which also spawns its processor)."""

    def __init__(
        self,
        *,
        log: EventLog,
        processor: ActorRef[LLMCall, LLMOutcome],
        functions: FunctionRegistry,
        archival: ArchivalOpener,
        config: AgentConfig,
        observe: Observer | None = None,
        directory: AgentDirectory | None = None,
        prompts: PromptRecorder | None = None,
    ) -> None:
        self._log = log
        self._processor = processor
        self._functions = functions
        self._tools = functions.tool_schemas()
        self._tool_tokens = tools_tokens(self._tools)
        self._prompts = prompts
        self._tools_json = msgspec.json.encode(self._tools) if prompts is not None else b""
        self._archival = archival
        self._config = config
        self._observe = observe
        self._directory = directory
        self._state = AgentState()
        self._turn = Turn()
        self._alarms: Alarms[object, object] | None = None  # made when it starts
        self._logged: list[Event] = []
        self._pending: list[Event] = []
        self._outbox: list[AgentMessage] = []
        self._heard: dict[str, int] = {}
        """Per sender: the ``cause`` of the last of its messages this agent logged."""

    @property
    def name(self) -> str:
        return self.context.name

    async def on_start(self) -> None:
        runtime = self.context.runtime
        self._alarms = Alarms(
            runtime, runtime.lookup(self.name), lambda fired: Deliver(event=fired)
        )
        events = await self._log.read(self.name)
        if not events:
            raise UsageError(f"no agent named {self.name!r}: create it first", actor_id=self.name)
        sent = []
        for event in events:
            self._fold(event)
            message = outgoing(event, self._turn)
            if message is not None:
                sent.append(message)
        for timer in self._state.timers:
            self._alarms.arm(timer)
        # Messages still in a mailbox when the process died are in this log only:
        # deliver them all again; their recipients drop what they already logged.
        self._deliver(sent)
        if self._directory is not None and isinstance(events[0], AgentCreated):
            self._directory.register(self.name, events[0].tags)

    async def on_stop(self) -> None:
        if self._alarms is not None:
            self._alarms.clear()

    async def receive(self, message: AgentRequest) -> TurnReport:
        self._logged = []
        if isinstance(message, Amend):
            return await self._amend(message.event)
        if not self._turn.idle:
            await self._run()  # a turn cut short by a crash: finish it first
        for inbound in (message.event, *message.more):
            if isinstance(inbound, TimerFired) and not self._exists(inbound.timer_id):
                continue  # cancelled (or already fired) while queued
            if isinstance(inbound, AgentMessage) and self._logged_before(inbound):
                continue  # delivered again by a sender that restarted
            self._add([self._stamped(inbound)])
            if isinstance(inbound, AgentMessage):
                self._settle(inbound)
        if self._pending:
            await self._run()
            await self._flush()
        return TurnReport(events=tuple(self._logged))

    async def _amend(self, amendment: Amendment) -> TurnReport:
        seq, at = self._next()
        event = msgspec.structs.replace(amendment, agent=self.name, seq=seq, at=at)
        self._add([event])
        await self._flush()
        self._rearm(event)
        return TurnReport(events=(event,))

    # --- the loop ----------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            action = next_action(
                self._state,
                self._turn,
                tools=self._tools,
                config=self._config.turn,
                model=self._config.model,
                tool_tokens=self._tool_tokens,
            )
            match action:
                case Yield():
                    await self._flush()
                    return
                case Step():
                    await self._step(action)
                case RunCall():
                    await self._call(action.call.id, action.call.name, action.call.arguments)
                case Recover():
                    await self._recover(action.called)
                case Compact():
                    await self._compact(action.plan)
                case Alert():
                    seq, at = self._next()
                    self._add(
                        [action.alert.event(agent=self.name, seq=seq, at=at, cause=self._cause)]
                    )
                case Limit():
                    seq, at = self._next()
                    self._add(
                        [
                            StepLimited(
                                agent=self.name,
                                seq=seq,
                                at=at,
                                cause=self._cause,
                                steps=action.steps,
                            )
                        ]
                    )
                case Fail():
                    await self._error(action.kind, action.message)
                case _:
                    assert_never(action)

    async def _step(self, step: Step) -> None:
        outcome = await self._ask_llm(step.request)
        if isinstance(outcome, Completed):
            response = outcome.response
            seq, at = self._next()
            responded = LLMResponded(
                agent=self.name,
                seq=seq,
                at=at,
                cause=self._cause,
                model=response.model or step.request.model,
                content=response.content,
                tool_calls=response.tool_calls,
                finish_reason=response.finish_reason,
                usage=response.usage,
                prompt_hash=step.prompt_hash,
                latency=outcome.latency,
            )
            self._add([responded])
            if self._prompts is not None:
                self._prompts.record(self.name, step.prompt_hash, step.parts, self._tools_json)
        elif isinstance(outcome, Overflowed):
            await self._error(OVERFLOW, outcome.message)
        else:
            await self._error("llm_error", outcome.message)

    async def _call(self, call_id: str, name: str, arguments: str) -> None:
        seq, at = self._next()
        called = ToolCalled(
            agent=self.name,
            seq=seq,
            at=at,
            cause=self._turn.response,
            call_id=call_id,
            name=name,
            arguments=arguments,
        )
        self._add([called])
        await self._finish(called)

    async def _recover(self, called: ToolCalled) -> None:
        # Built-ins log their effects with their result (archival inserts are keyed by
        # the call), so running one again is safe. A user's tool may have acted on the
        # world: say so, and do not repeat it.
        if called.name in _REPEATABLE or called.name not in self._functions:
            await self._finish(called)
            return
        result = ToolResult(
            status="error",
            content=f"The call to {called.name} was interrupted (the agent stopped while it"
            " ran) and was not repeated, since it may have had an effect. Check before"
            " calling it again.",
        )
        await self._record(called, result, heartbeat=True)

    async def _finish(self, called: ToolCalled) -> None:
        parsed = self._functions.parse(
            ToolCall(id=called.call_id, name=called.name, arguments=called.arguments)
        )
        if isinstance(parsed, CallRejected):
            await self._record(called, ToolResult(status="error", content=parsed.message), True)
            return
        spec = self._functions.lookup(called.name)
        assert not isinstance(spec, CallRejected)
        if not runs_on_loop(spec):
            await self._flush()  # it may act on the world: its call is durable first
        context = ToolContext(
            state=self._state,
            call=called,
            log=self._log,
            archival=self._archival,
            directory=self._directory,
            reply_to=self._turn.reply_to,
        )
        result = await run_call(spec, parsed, context, self._config.tools)
        await self._record(called, result, heartbeat=parsed.heartbeat)

    async def _record(self, called: ToolCalled, result: ToolResult, heartbeat: bool) -> None:
        seq, at = self._next()
        events: list[Event] = []
        for effect in result.effects:
            events.append(stamp(effect, seq=seq, at=at, cause=called.seq))
            seq += 1
        events.append(
            ToolReturned(
                agent=self.name,
                seq=seq,
                at=at,
                cause=called.seq,
                call_id=called.call_id,
                name=called.name,
                status=result.status,
                content=result.content,
                heartbeat=heartbeat,
            )
        )
        self._add(events)
        for event in events:
            self._rearm(event)

    async def _compact(self, plan: Evict) -> None:
        messages = evicted_messages(self._state, plan)
        request = summary_request(
            self._state.summary,
            messages,
            plan,
            model=self._state.model or self._config.model,
        )
        outcome = await self._ask_llm(request)
        summary = ""
        if isinstance(outcome, Completed):
            summary = (outcome.response.content or "").strip()
        if not summary:
            summary = fallback_summary(self._state.summary, messages)
        seq, at = self._next()
        event = compaction_event(self._state, plan, summary, seq=seq, at=at, cause=self._cause)
        self._add([event])

    async def _ask_llm(self, request: LLMRequest) -> LLMOutcome:
        await self._flush()
        timeout = self._config.llm_timeout
        call = LLMCall(request=request, deadline=anyio.current_time() + timeout)
        try:
            # The processor gives up at the deadline itself; the margin only covers
            # a processor that cannot answer at all.
            return await self._processor.ask(call, timeout=timeout + 5.0)
        except ActorError as exc:
            return Failed(message=f"the LLM call did not complete: {exc}")

    async def _error(self, kind: str, message: str) -> None:
        seq, at = self._next()
        self._add(
            [
                ErrorEvent(
                    agent=self.name, seq=seq, at=at, cause=self._cause, kind=kind, message=message
                )
            ]
        )

    # --- the log -----------------------------------------------------------------------

    @property
    def _cause(self) -> int | None:
        return self._turn.cause

    def _next(self) -> tuple[int, float]:
        return self._state.last_seq + 1, self.context.now()

    def _stamped(self, inbound: Inbound) -> Inbound:
        seq, at = self._next()
        return msgspec.structs.replace(inbound, agent=self.name, seq=seq, at=at)

    def _add(self, events: Sequence[Event]) -> None:
        """Fold ``events`` now; they are logged (and messages among them sent) at the
        next :meth:`_flush`."""
        for event in events:
            self._fold(event)
            message = outgoing(event, self._turn)
            if message is not None:
                self._outbox.append(message)
        self._pending.extend(events)

    async def _flush(self) -> None:
        """Append the buffered events in one commit, tell the observer, then deliver
        the messages they hold to the other agents."""
        if not self._pending:
            return
        events, self._pending = self._pending, []
        messages, self._outbox = self._outbox, []
        await self._log.append(events)
        self._logged.extend(events)
        if self._observe is not None:
            for event in events:
                self._observe(event)
        self._deliver(messages)

    def _deliver(self, messages: Sequence[AgentMessage]) -> None:
        """Hand each message to its recipient's mailbox, never waiting for room."""
        runtime = self.context.runtime
        for message in messages:
            try:
                runtime.deliver_soon(runtime.lookup(message.agent), Deliver(event=message))
            except ActorError:
                # The recipient stopped since the call checked the directory: the
                # message stays in this log only (an ask then times out).
                continue

    def _logged_before(self, message: AgentMessage) -> bool:
        """Whether ``message`` was logged already (see the module docstring)."""
        return message.cause is not None and message.cause <= self._heard.get(message.sender, 0)

    def _settle(self, message: AgentMessage) -> None:
        """``message`` answers an ask of ours that still waits: cancel its timeout."""
        timer_id = answered_ask(self._state, message)
        if timer_id is None:
            return
        reply = self._state.last_seq
        seq, at = self._next()
        cancelled = TimerCancelled(agent=self.name, seq=seq, at=at, cause=reply, timer_id=timer_id)
        self._add([cancelled])
        self._rearm(cancelled)

    def _fold(self, event: Event) -> None:
        self._state = fold(self._state, event)
        self._turn = advance(self._turn, event, self._state)
        if isinstance(event, AgentMessage) and event.cause is not None:
            self._heard[event.sender] = max(event.cause, self._heard.get(event.sender, 0))
        if isinstance(event, TimerFired) and self._alarms is not None:
            self._alarms.fired(event, self._state)

    def _exists(self, timer_id: str) -> bool:
        return any(t.timer_id == timer_id for t in self._state.timers)

    def _rearm(self, event: Event) -> None:
        if self._alarms is not None:
            self._alarms.follow(event)
