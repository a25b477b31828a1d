"""Every error memvisor raises on purpose derives from one root.

```
MemvisorError
├── UsageError                 you called memvisor wrongly (a bug in the caller)
├── ConfigError                a setting or path given by the user is unusable
├── EventDecodeError           bytes that are not one whole, valid event
├── EmbeddingError             an embedder (server or local model) failed or answered nonsense
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
