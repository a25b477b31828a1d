"""The vocabulary: every event that can happen to an agent, as one tagged union.

Each agent's log is the sequence of these events, ``seq`` 1, 2, 3 … with no gaps.
Everything the agent knows is a fold over that sequence.

The log is forever, so these types obey three rules (checked by the corpus test
in ``tests/events/test_compat.py``):

* a new field gets a default;
* no field's type ever changes;
* no tag is ever renamed or reused.

Tags are explicit snake_case strings, never derived from class names, so a class
can be renamed without touching stored data. Fields that hold arbitrary JSON are
typed ``object``: msgspec then decodes them to plain JSON-like values.

No ``from __future__ import annotations`` here: the classes are re-exported under
``memvisor.events``, and string annotations would then be resolved there, where
names such as ``Literal`` do not exist.
"""

from typing import Literal

import msgspec


class _Base(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", omit_defaults=True):
    """Fields every event has."""

    agent: str
    """The agent whose log holds this event."""
    seq: int
    """Position in that log: 1 for the first event, no gaps."""
    at: float
    """When it was logged, in seconds since the epoch on the runtime's clock."""


class _Answer(_Base, frozen=True, kw_only=True):
    """An event that answers an earlier one in the same log."""

    cause: int | None = None
    """The ``seq`` of the event this one answers, if any."""


# --- value types carried inside events -------------------------------------------


class BlockSpec(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A core memory block as created: label, text and rules."""

    label: str
    value: str = ""
    limit: int = 2000
    """Maximum characters the block may hold."""
    read_only: bool = False
    shared: str | None = None
    """Name of the shared block this one mirrors, if it is shared between agents."""


class ToolCall(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A function call as the model wrote it (arguments unparsed: they may be malformed)."""

    id: str
    name: str
    arguments: str
    """The raw JSON text of the arguments, exactly as the model produced it."""


class TokenUsage(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Token counts as reported by the LLM server."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


# --- inbound: what sources deliver to the mailbox --------------------------------


class AgentCreated(_Base, frozen=True, kw_only=True, tag="agent_created"):
    """The first event of every agent: how it was set up."""

    model: str | None = None
    system: str = ""
    """The system prompt text."""
    blocks: tuple[BlockSpec, ...] = ()
    context_window: int = 8192
    """Context window of the model, in tokens."""
    forked_from: str | None = None
    """``"agent@seq"`` when this agent was forked from another's log."""
    tags: tuple[str, ...] = ()
    """Labels other agents can reach it by (``broadcast(tag, message)``)."""


class UserMessage(_Answer, frozen=True, kw_only=True, tag="user_message"):
    """A message from the human the agent talks to."""

    text: str
    name: str | None = None


class ExternalEvent(_Answer, frozen=True, kw_only=True, tag="external_event"):
    """Something from the outside world: a webhook, a file change, a script."""

    source: str
    """Where it came from, e.g. ``"webhook"`` or ``"watch:inbox"``."""
    text: str = ""
    payload: object = None
    """Any JSON value that came with it."""
    key: str | None = None
    """Idempotency key: the same key is delivered once."""
    inbox: int | None = None
    """Its id in the agent's inbox, when it came through one (a webhook, a watcher):
    how a restarted host knows which inbox events the agent has already logged."""


class AgentMessage(_Answer, frozen=True, kw_only=True, tag="agent_message"):
    """A message from another agent."""

    sender: str
    text: str
    request_id: str | None = None
    """Set when the sender waits for a reply (``ask_agent``)."""
    in_reply_to: str | None = None
    """Set when this message is the reply to a request of ours."""


class TimerSet(_Answer, frozen=True, kw_only=True, tag="timer_set"):
    """A timer armed for this agent; re-armed when the log is folded after a restart."""

    timer_id: str
    due: float
    """First firing, in seconds since the epoch."""
    every: float | None = None
    """Interval in seconds for a repeating timer."""
    text: str = ""
    cron: str | None = None
    """A cron expression (five fields, UTC) for a timer that fires on a calendar;
    ``due`` is then its first firing."""


class TimerCancelled(_Answer, frozen=True, kw_only=True, tag="timer_cancelled"):
    """A timer disarmed before (another) firing."""

    timer_id: str


class TimerFired(_Answer, frozen=True, kw_only=True, tag="timer_fired"):
    """A timer went off; ``cause`` is its ``timer_set`` when the agent set it itself."""

    timer_id: str
    text: str = ""


# --- the step: the processor's decision and its consequences ---------------------


class LLMResponded(_Answer, frozen=True, kw_only=True, tag="llm_responded"):
    """One LLM call and what came back, with the hash of the prompt it was given."""

    model: str
    content: str | None = None
    """The model's own text: inner thoughts, never shown to the user."""
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    usage: TokenUsage = TokenUsage()
    prompt_hash: str = ""
    """Hash of the compiled prompt; replay compares it to find divergence."""
    latency: float = 0.0
    """Seconds the call took."""


class ToolCalled(_Answer, frozen=True, kw_only=True, tag="tool_called"):
    """A function is about to run (written ahead of running it)."""

    call_id: str
    name: str
    arguments: str
    """Raw JSON text of the arguments."""


class ToolReturned(_Answer, frozen=True, kw_only=True, tag="tool_returned"):
    """A function's result; ``cause`` is its ``tool_called``."""

    call_id: str
    name: str
    status: Literal["ok", "error"]
    content: str
    heartbeat: bool = False
    """Whether the agent asked to step again right away."""


class AssistantMessage(_Answer, frozen=True, kw_only=True, tag="assistant_message"):
    """A reply the agent chose to show (``send_message``)."""

    text: str
    to: str | None = None
    """Recipient other than the user (an agent's name), if any."""
    request_id: str | None = None
    """Set when this message asks ``to`` for a reply (``ask_agent``): the reply comes
    back as an ``agent_message`` with this ``in_reply_to``."""


class StepLimited(_Answer, frozen=True, kw_only=True, tag="step_limited"):
    """A turn hit its cap on chained steps and the agent was made to yield."""

    steps: int


class ErrorEvent(_Answer, frozen=True, kw_only=True, tag="error"):
    """A failure the agent survived (the LLM unreachable, a turn interrupted …)."""

    kind: str
    message: str


# --- memory ----------------------------------------------------------------------


class CoreMemoryEdited(_Answer, frozen=True, kw_only=True, tag="core_memory_edited"):
    """A core memory block now holds ``value``."""

    block: str
    op: Literal["append", "replace", "rewrite", "create"]
    value: str
    """The block's whole text after the edit, so the fold needs no replay of ops."""
    origin: str | None = None
    """For a shared block: the agent that made the edit, if not this one."""
    spec: BlockSpec | None = None
    """For ``op="create"``: the new block's rules (limit, read-only, shared); its text
    is ``value``. A block created without one gets the defaults of :class:`BlockSpec`."""


class MemoryPressure(_Answer, frozen=True, kw_only=True, tag="memory_pressure"):
    """The prompt passed the warning fraction of the context window."""

    prompt_tokens: int
    context_window: int


class ContextCompacted(_Answer, frozen=True, kw_only=True, tag="context_compacted"):
    """Old messages left the context window for a summary (they stay in recall)."""

    through_seq: int
    """Every message up to and including this seq is now out of the window."""
    evicted: int
    """How many messages were evicted."""
    summary: str
    tokens_before: int = 0
    tokens_after: int = 0


class SourceAttached(_Answer, frozen=True, kw_only=True, tag="source_attached"):
    """A data source's passages became searchable by this agent."""

    source: str
    passages: int = 0
    """How many passages the source held when it was attached (for the memory statistics)."""


class HeartbeatsPaused(_Answer, frozen=True, kw_only=True, tag="heartbeats_paused"):
    """The agent paused its timed heartbeats (``pause_heartbeats``): timers that fire
    before ``until`` are logged but do not make it step."""

    until: float
    """Seconds since the epoch when heartbeats resume."""


class ContextRewound(_Answer, frozen=True, kw_only=True, tag="context_rewound"):
    """Messages logged at ``from_seq`` or later leave the context window, by a person's
    command (``/pop``, ``/retry`` in ``memvisor chat``). They stay in the log and in recall."""

    from_seq: int


Event = (
    AgentCreated
    | UserMessage
    | ExternalEvent
    | AgentMessage
    | TimerSet
    | TimerCancelled
    | TimerFired
    | LLMResponded
    | ToolCalled
    | ToolReturned
    | AssistantMessage
    | StepLimited
    | ErrorEvent
    | CoreMemoryEdited
    | MemoryPressure
    | ContextCompacted
    | SourceAttached
    | HeartbeatsPaused
    | ContextRewound
)
"""Any event. ``match`` over it ends with ``assert_never``."""
