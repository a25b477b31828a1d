"""Actors: a behaviour, a bounded mailbox, and the supervised loop that joins them.

```
 tell / ask ──► mailbox (bounded memory stream) ──► cell loop ──► actor.receive(message)
                                                       │  crash (any Exception)
                                                       ▼
                                         Supervision.on_crash ─┬─ Restart: new actor from
                                                               │  the factory, same mailbox
                                                               └─ GiveUp: broken; escalate
                                                                  or stop, per the policy
```

Invariants:

* An actor's state is touched only by its own task: no locks anywhere.
* The mailbox outlives restarts: a crash loses the message being handled (its
  asker gets :class:`ActorBrokenError`), never the messages queued behind it.
* Every ask ends: with the reply, :class:`AskTimeoutError`, :class:`ActorBrokenError`
  or :class:`ActorClosedError`. None is left waiting when an actor stops.
"""

from __future__ import annotations

import contextvars
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, Literal, TypeVar, assert_never, cast

import anyio
import msgspec

from .._exceptions import (
    ActorBrokenError,
    ActorClosedError,
    ActorError,
    AskTimeoutError,
    MailboxFullError,
)
from .._util import NoPublicConstructor
from ._supervisor import GiveUp, Restart, RestartPolicy, Supervision

if TYPE_CHECKING:
    from ._runtime import Runtime

__all__ = ["Actor", "ActorContext", "ActorRef", "ActorState", "ActorStatistics"]

M_contra = TypeVar("M_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)

ActorState = Literal["starting", "running", "restarting", "stopped", "broken"]


class ActorStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of one actor."""

    name: str
    state: ActorState
    queued: int
    """Messages waiting in the mailbox."""
    capacity: int
    """Mailbox size; ``tell`` waits when ``queued`` reaches it."""
    processed: int
    """Messages handled without a crash."""
    restarts: int


class Actor(ABC, Generic[M_contra, R_co]):
    """Subclass this and implement :meth:`receive`.

    The runtime makes a fresh instance from your factory at start and after each
    crash, sets :attr:`context`, then calls :meth:`on_start`. Messages arrive one
    at a time; what :meth:`receive` returns is the reply to an ``ask``.
    """

    context: ActorContext
    """Who this actor is and the runtime it lives in; set before :meth:`on_start`."""

    async def on_start(self) -> None:
        """Called before the first message of each incarnation (start and restarts)."""

    @abstractmethod
    async def receive(self, message: M_contra) -> R_co:
        """Handle one message. Raising crashes this incarnation (the supervisor decides)."""

    async def on_stop(self) -> None:
        """Called after a graceful stop, once the mailbox is drained (not after a crash)."""


class ActorContext(metaclass=NoPublicConstructor):
    """What an actor knows about its place in the runtime."""

    def __init__(self, cell: _Cell) -> None:
        self._cell = cell

    @property
    def name(self) -> str:
        """This actor's registered name."""
        return self._cell.name

    @property
    def runtime(self) -> Runtime:
        """The runtime hosting this actor."""
        return self._cell.runtime

    def now(self) -> float:
        """The runtime clock, in seconds since the epoch."""
        return self._cell.runtime.clock.now()

    def stop(self) -> None:
        """Stop taking messages; the ones already queued are handled, then the actor stops."""
        self._cell.close()


class _Reply:
    """Where the answer to one ask lands."""

    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.value: object = None
        self.error: ActorError | None = None

    def set(self, value: object) -> None:
        if not self.done.is_set():
            self.value = value
            self.done.set()

    def fail(self, error: ActorError) -> None:
        if not self.done.is_set():
            self.error = error
            self.done.set()


_Envelope = tuple[object, _Reply | None]
_current_cell: contextvars.ContextVar[_Cell | None] = contextvars.ContextVar(
    "memvisor_current_actor", default=None
)


class _Cell:
    """The runtime's side of one actor: mailbox, supervision, lifecycle."""

    def __init__(
        self,
        runtime: Runtime,
        name: str,
        factory: Callable[[], Actor[M_contra, R_co]],
        *,
        mailbox_size: int,
        policy: RestartPolicy,
    ) -> None:
        self.runtime = runtime
        self.name = name
        self.factory = cast("Callable[[], Actor[object, object]]", factory)
        self.capacity = mailbox_size
        self.send, self.recv = anyio.create_memory_object_stream[_Envelope](mailbox_size)
        self.supervision = Supervision(policy)
        self.state: ActorState = "starting"
        self.processed = 0
        self._gave_up: tuple[str, Exception] | None = None  # why, and the last crash
        self.done = anyio.Event()
        self.context = ActorContext._create(self)

    # --- the sending side ------------------------------------------------------

    def closed_error(self) -> ActorError:
        """A fresh error for one sender: exception objects are never shared between tasks."""
        if self._gave_up is None:
            return ActorClosedError("the actor is stopped", actor_id=self.name)
        reason, crash = self._gave_up
        error = ActorBrokenError(reason, actor_id=self.name)
        error.__cause__ = crash
        return error

    async def put(self, envelope: _Envelope) -> None:
        try:
            await self.send.send(envelope)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            error = self.closed_error()
            raise error from error.__cause__

    def put_nowait(self, envelope: _Envelope) -> None:
        try:
            self.send.send_nowait(envelope)
        except anyio.WouldBlock:
            raise MailboxFullError(
                f"mailbox full ({self.capacity} messages)", actor_id=self.name
            ) from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            error = self.closed_error()
            raise error from error.__cause__

    def close(self) -> None:
        self.send.close()

    def statistics(self) -> ActorStatistics:
        return ActorStatistics(
            name=self.name,
            state=self.state,
            queued=self.send.statistics().current_buffer_used,
            capacity=self.capacity,
            processed=self.processed,
            restarts=self.supervision.restarts,
        )

    # --- the actor's task --------------------------------------------------------

    async def run(self) -> None:
        """Incarnate the actor until it stops, restarting it as the policy says."""
        try:
            while True:
                crash = await self._incarnation()
                if crash is None:
                    self.state = "stopped"
                    return
                decision = self.supervision.on_crash(anyio.current_time())
                match decision:
                    case Restart(delay=delay):
                        self.state = "restarting"
                        if not self.runtime.closing:  # draining: handle the queue, no backoff
                            await anyio.sleep(delay)
                    case GiveUp(crashes=crashes):
                        self.state = "broken"
                        self._gave_up = (
                            f"the actor crashed {crashes} time{'s' if crashes > 1 else ''} within"
                            f" {self.supervision.policy.window:g}s and was not restarted",
                            crash,
                        )
                        self.close()
                        if self.supervision.policy.on_give_up == "escalate":
                            raise self.closed_error()
                        return
                    case _:
                        assert_never(decision)
        finally:
            self._fail_queued()
            self.runtime._forget(self)
            self.done.set()

    async def _incarnation(self) -> Exception | None:
        """Run one instance of the actor: ``None`` on a graceful stop, else its crash."""
        reply: _Reply | None = None
        _current_cell.set(self)
        try:
            actor = self.factory()
            actor.context = self.context
            await actor.on_start()
            self.state = "running"
            receive = self.recv.receive
            handle = actor.receive
            while True:
                try:
                    message, reply = await receive()
                except anyio.EndOfStream:
                    break
                result = await handle(message)
                self.processed += 1
                if reply is not None:
                    reply.set(result)
                    reply = None
            await actor.on_stop()
        except Exception as exc:  # the supervisor: any crash of the actor's own code
            if reply is not None:
                error = ActorBrokenError("the actor crashed handling this ask", actor_id=self.name)
                error.__cause__ = exc
                reply.fail(error)
            return exc
        finally:
            if reply is not None:  # cancelled mid-message (shutdown ran out of time)
                reply.fail(
                    ActorClosedError("the actor stopped before replying", actor_id=self.name)
                )
        return None

    def _fail_queued(self) -> None:
        """The actor is gone: every ask still queued ends now, none waits forever."""
        self.close()
        while True:
            try:
                _, reply = self.recv.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
            if reply is not None:
                reply.fail(self.closed_error())
        self.recv.close()  # senders still blocked on a full mailbox get the error too


class ActorRef(Generic[M_contra, R_co], metaclass=NoPublicConstructor):
    """A handle to send messages to one actor. Made by ``Runtime.spawn``/``lookup``."""

    def __init__(self, cell: _Cell) -> None:
        self._cell = cell

    def __repr__(self) -> str:
        return f"<ActorRef {self._cell.name!r} {self._cell.state}>"

    @property
    def name(self) -> str:
        """The actor's registered name."""
        return self._cell.name

    async def tell(self, message: M_contra) -> None:
        """Queue ``message``, waiting while the mailbox is full (back-pressure).

        Raises:
            ActorClosedError: the actor has stopped.
            ActorBrokenError: the actor crashed too often and was given up on.
        """
        await self._cell.put((message, None))

    def tell_nowait(self, message: M_contra) -> None:
        """Queue ``message`` if there is room now.

        Raises:
            MailboxFullError: the mailbox is full (it is also an ``anyio.WouldBlock``).
            ActorClosedError, ActorBrokenError: as for :meth:`tell`.
        """
        self._cell.put_nowait((message, None))

    async def ask(self, message: M_contra, *, timeout: float | None = 30.0) -> R_co:
        """Send ``message`` and wait for the actor's reply.

        Args:
            message: The request.
            timeout: Seconds to wait, queueing included; ``None`` waits forever.

        Raises:
            AskTimeoutError: no reply in time (the request may still be handled).
            ActorBrokenError: the actor crashed handling it (the crash is ``__cause__``).
            ActorClosedError: the actor stopped before replying.
        """
        reply = _Reply()
        try:
            with anyio.fail_after(timeout):
                await self._cell.put((message, reply))
                await reply.done.wait()
        except TimeoutError:
            raise AskTimeoutError(
                f"no reply within {timeout:g}s", actor_id=self._cell.name
            ) from None
        if reply.error is not None:
            raise reply.error
        return cast("R_co", reply.value)

    def statistics(self) -> ActorStatistics:
        """A snapshot of the actor's mailbox and lifecycle."""
        return self._cell.statistics()
