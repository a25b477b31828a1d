"""Every error memvisor raises on purpose derives from one root.

```
MemvisorError
├── UsageError                 you called memvisor wrongly (a bug in the caller)
├── ConfigError                a setting or path given by the user is unusable
├── EventDecodeError           bytes that are not one whole, valid event
├── EmbeddingError             an embedder (server or local model) failed or answered nonsense
├── LLMAPIError                the LLM server failed or refused (after any retries)
│   └── ContextOverflowError   the prompt does not fit the model's context window
├── ModelBehaviorError         the model emitted bad tool JSON or called an unknown tool
├── ToolError                  a function failed; its message is what the model reads
├── LogError                   the event log refused or failed an operation
│   ├── ConflictError          an append did not continue the agent's sequence
│   ├── CorruptLogError        a stored event is damaged; nothing was rewritten
│   └── ForeignFileError       the file at the log's path is not a memvisor log
└── ActorError                 the runtime could not deliver or complete a message
    ├── UnknownActorError      no actor by that name is registered
    ├── MailboxFullError       a *_nowait send found the mailbox full (also anyio.WouldBlock)
    ├── AskTimeoutError        an ask got no reply in time (also TimeoutError)
    ├── ActorClosedError       the actor (or the runtime) was shut down
    └── ActorBrokenError       the actor crashed; the crash is in ``__cause__``
```

Errors carry the ``actor_id`` and ``seq`` they concern when those are known.
The boundary that knows them attaches them with :func:`error_context`, so that
code deep inside need not thread them through.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anyio


class MemvisorError(Exception):
    """Root of every error memvisor raises on purpose.

    Attributes:
        actor_id: The actor (agent) the error concerns, when known.
        seq: The event sequence number the error concerns, when known.
    """

    actor_id: str | None = None
    seq: int | None = None

    def __init__(self, message: str, *, actor_id: str | None = None, seq: int | None = None):
        super().__init__(message)
        self.message = message
        if actor_id is not None:
            self.actor_id = actor_id
        if seq is not None:
            self.seq = seq

    def __str__(self) -> str:
        where = []
        if self.actor_id is not None:
            where.append(f"actor {self.actor_id!r}")
        if self.seq is not None:
            where.append(f"seq {self.seq}")
        return f"{self.message} ({', '.join(where)})" if where else self.message


class UsageError(MemvisorError):
    """memvisor was called in a way it does not support (a bug in the calling code)."""


class ConfigError(MemvisorError):
    """A setting, path or option given by the user cannot be used."""


class EventDecodeError(MemvisorError):
    """The bytes are not one whole, valid event (damaged, truncated or foreign)."""


class EmbeddingError(MemvisorError):
    """An embedder failed (a server error after retries, a model crash) or returned
    unusable vectors. Nothing was stored; the same call may succeed later."""


class LLMAPIError(MemvisorError):
    """The LLM server failed (after retries) or refused the request.

    Attributes:
        status_code: The HTTP status of the last answer; ``None`` for a connection
            error, a timeout, or an answer that could not be read.
        attempts: How many requests were sent.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        attempts: int = 1,
        actor_id: str | None = None,
        seq: int | None = None,
    ):
        super().__init__(message, actor_id=actor_id, seq=seq)
        self.status_code = status_code
        self.attempts = attempts


class ContextOverflowError(LLMAPIError):
    """The prompt is longer than the model's context window; compact and ask again."""


class ModelBehaviorError(MemvisorError):
    """The model emitted tool-call JSON that cannot be used, or called an unknown tool.

    The model is at fault, not the server (that is :class:`LLMAPIError`).
    """


class ToolError(MemvisorError):
    """A function the agent called failed; the message is what the model reads.

    Raise it from a tool to fail the call cleanly (any other exception is
    reported to the model too, with its type name).
    """


class LogError(MemvisorError):
    """The event log refused or failed an operation."""


class ConflictError(LogError):
    """An append did not continue the agent's sequence: another writer got there first."""


class CorruptLogError(LogError):
    """A stored event is damaged. The log reports it and never rewrites it."""


class ForeignFileError(LogError):
    """The file at the log's path is not a memvisor log; it is left untouched."""


class ActorError(MemvisorError):
    """The runtime could not deliver a message or complete a request."""


class UnknownActorError(ActorError, LookupError):
    """No actor is registered under that name."""


class MailboxFullError(ActorError, anyio.WouldBlock):
    """A ``*_nowait`` send found the mailbox full."""


class AskTimeoutError(ActorError, TimeoutError):
    """An ask got no reply within its timeout. The request may still be handled."""


class ActorClosedError(ActorError):
    """The actor, or the whole runtime, has been shut down."""


class ActorBrokenError(ActorError):
    """The actor crashed while handling the message; the crash is in ``__cause__``."""


@contextmanager
def error_context(*, actor_id: str | None = None, seq: int | None = None) -> Iterator[None]:
    """Attach ``actor_id``/``seq`` to any :class:`MemvisorError` leaving the block.

    Values already set deeper down win: they are more precise.
    """
    try:
        yield
    except MemvisorError as exc:
        if exc.actor_id is None and actor_id is not None:
            exc.actor_id = actor_id
        if exc.seq is None and seq is not None:
            exc.seq = seq
        raise
