"""The seam between the agent and the functions it calls.

```
agent ── ToolCalled (logged) ──► function(ctx: ToolContext, **arguments)
                                   │ returns str | ToolResult, or raises ToolError
agent ◄── ToolResult(content, status, effects) ──┘
      logs each effect (stamped with its seq), then ToolReturned
```

A function reads what it needs from :class:`ToolContext` (the folded state at
the call, the call's own event, the log for recall, archival memory opened on
first use) and answers with a :class:`ToolResult`. Anything it changes is an
*effect*: an event drafted with ``seq=0`` and ``at=0.0`` that the agent stamps
with the next seq and logs before the result. A function never writes the log
itself, so the agent stays its only writer.

Functions that talk to other agents find them in :attr:`ToolContext.directory`
(a read-only :class:`Directory` of the agents' names and tags, which the host
keeps) and answer an ask through :attr:`ToolContext.reply_to`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import msgspec

from .._exceptions import ToolError
from ..events import (
    AgentMessage,
    AssistantMessage,
    CoreMemoryEdited,
    EventLog,
    HeartbeatsPaused,
    TimerCancelled,
    TimerSet,
    ToolCalled,
)
from ..memory._archival_model import ArchivalStore
from ..memory._state import AgentState

__all__ = ["Directory", "Effect", "ToolContext", "ToolError", "ToolResult", "stamp"]

Effect = AssistantMessage | CoreMemoryEdited | TimerSet | TimerCancelled | HeartbeatsPaused
"""An event a function asks the agent to log on its behalf."""


class ToolResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a call produced: the text the model reads, and the events it causes."""

    content: str
    status: Literal["ok", "error"] = "ok"
    effects: tuple[Effect, ...] = ()
    """Drafts (``seq=0``, ``at=0.0``): the agent stamps and logs them in order."""


class Directory(Protocol):
    """The agents a function may send messages to (read-only)."""

    def __contains__(self, name: object) -> bool:
        """Whether an agent named ``name`` is there to receive messages."""
        ...

    def names(self) -> Sequence[str]:
        """Every such agent's name, sorted."""
        ...

    def tagged(self, tag: str) -> Sequence[str]:
        """The names of the agents created with ``tag``, sorted."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolContext:
    """What a function may look at while it runs. Declare a parameter of this type
    (any name) and the agent passes it in; the model never sees it."""

    state: AgentState
    """The agent's state, folded up to and including ``call``."""
    call: ToolCalled
    """This call's logged event (its ``seq`` and ``at`` are the call's identity and time)."""
    log: EventLog
    """The agent's log, for reading (recall search). Never append to it."""
    archival: Callable[[], Awaitable[ArchivalStore]]
    """Opens archival memory on first use (opening it is slow; most calls never need it)."""
    directory: Directory | None = None
    """The other agents, for the messaging functions; ``None`` when the agent runs alone."""
    reply_to: AgentMessage | None = None
    """The ask (an ``agent_message`` with a ``request_id``) that started this turn, if
    one did: the turn's visible replies go back to its sender."""

    @property
    def agent(self) -> str:
        """The calling agent's name."""
        return self.call.agent

    @property
    def now(self) -> float:
        """The call's time on the runtime clock, seconds since the epoch."""
        return self.call.at


def stamp(effect: Effect, *, seq: int, at: float, cause: int) -> Effect:
    """The effect as it is logged: the agent's next ``seq``, the time, and its call."""
    return msgspec.structs.replace(effect, seq=seq, at=at, cause=cause)
