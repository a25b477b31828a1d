"""The runtime: a registry of named actors, their supervisor, timers and shutdown.

```
open_runtime() ── task group ─┬─ timer task          (one, for every timer)
                              ├─ actor "alice" task  (cell loop, supervised)
                              ├─ actor "bob" task
                              └─ …
```

Messages that must not wait for room (timers firing, one agent writing to another)
go through :meth:`Runtime.deliver_soon`: queued now if the mailbox has room, else
handed to a background task that waits for it, so a full mailbox never blocks the
sender's own loop and two actors writing to each other cannot deadlock.

Shutdown when the ``async with`` block ends: timers stop; every mailbox stops
taking messages; each actor handles what is already queued (up to
``drain_timeout``); whatever is left after that is cancelled and every pending
ask fails with :class:`ActorClosedError`. Nothing is left waiting.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar, cast

import anyio
import msgspec
from anyio.abc import TaskGroup

from .._exceptions import ActorClosedError, ActorError, UnknownActorError, UsageError
from .._util import NoPublicConstructor, single_error
from ._actor import Actor, ActorRef, _Cell, _current_cell
from ._clock import Clock
from ._supervisor import RestartPolicy
from ._timers import Timer, _TimerService

__all__ = ["Runtime", "RuntimeStatistics", "open_runtime"]

M = TypeVar("M")
R = TypeVar("R")


class RuntimeStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of the runtime."""

    actors: int
    """Actors registered (running, restarting or starting)."""
    timers: int
    """Timers that will fire again."""
    overflow: int = 0
    """Messages given to :meth:`Runtime.deliver_soon` still waiting for room."""


class Runtime(metaclass=NoPublicConstructor):
    """Hosts actors. Get one from :func:`open_runtime`."""

    def __init__(
        self, tg: TaskGroup, clock: Clock, *, mailbox_size: int, restart: RestartPolicy
    ) -> None:
        self._tg = tg
        self.clock = clock
        """The runtime's clock (virtual under trio's ``MockClock``)."""
        self._mailbox_size = mailbox_size
        self._restart = restart
        self._cells: dict[str, _Cell] = {}
        self._timers = _TimerService()
        self._overflow: dict[_Cell, deque[tuple[object, None]]] = {}
        self.closing = False
        """True once shutdown has begun: no new actors, timers or restarts."""

    # --- actors ---------------------------------------------------------------------

    def spawn(
        self,
        name: str,
        factory: Callable[[], Actor[M, R]],
        *,
        mailbox_size: int | None = None,
        restart: RestartPolicy | None = None,
    ) -> ActorRef[M, R]:
        """Start an actor under ``name`` and return a reference to it.

        Args:
            name: Unique among live actors.
            factory: Makes a fresh actor; called at start and after every crash.
            mailbox_size: Messages the mailbox holds before ``tell`` waits.
            restart: What to do when it crashes (default: the runtime's policy).

        Raises:
            UsageError: the name is taken, or the mailbox size is not positive.
            ActorClosedError: the runtime is shutting down.
        """
        if self.closing:
            raise ActorClosedError("the runtime is shutting down", actor_id=name)
        if name in self._cells:
            raise UsageError(f"an actor named {name!r} is already running", actor_id=name)
        size = self._mailbox_size if mailbox_size is None else mailbox_size
        if size < 1:
            raise UsageError(f"mailbox_size must be at least 1, not {size}", actor_id=name)
        cell = _Cell(self, name, factory, mailbox_size=size, policy=restart or self._restart)
        self._cells[name] = cell
        self._tg.start_soon(cell.run, name=f"actor:{name}")
        return cast("ActorRef[M, R]", ActorRef._create(cell))

    def lookup(self, name: str) -> ActorRef[object, object]:
        """The live actor registered under ``name``.

        Raises:
            UnknownActorError: there is none.
        """
        cell = self._cells.get(name)
        if cell is None:
            raise UnknownActorError("no such actor", actor_id=name)
        return cast("ActorRef[object, object]", ActorRef._create(cell))

    def deliver_soon(self, ref: ActorRef[M, R], message: M) -> None:
        """Queue ``message`` for ``ref`` without waiting: now if its mailbox has room,
        else from a background task that waits for room, so back-pressure on the
        target never blocks the caller. Messages given to one actor this way arrive
        in the order they were given.

        Raises:
            ActorClosedError: the target has stopped.
            ActorBrokenError: the target crashed too often and was given up on.
        """
        cell = ref._cell
        envelope: tuple[object, None] = (message, None)
        waiting = self._overflow.get(cell)
        if waiting is not None:  # older messages wait for room: queue behind them
            waiting.append(envelope)
            return
        try:
            cell.put_nowait(envelope)
        except anyio.WouldBlock:
            self._overflow[cell] = deque([envelope])
            self._tg.start_soon(self._drain_overflow, cell, name=f"deliver:{cell.name}")

    async def _drain_overflow(self, cell: _Cell) -> None:
        """Put what waits for ``cell`` into its mailbox as room appears, in order."""
        waiting = self._overflow[cell]
        try:
            while waiting:
                await cell.put(waiting[0])
                waiting.popleft()
        except ActorError:
            pass  # stopped or broken meanwhile: nobody to deliver to
        finally:
            del self._overflow[cell]

    def names(self) -> list[str]:
        """Names of the live actors, sorted."""
        return sorted(self._cells)

    async def stop(self, name: str) -> None:
        """Stop one actor gracefully: it handles what is queued, then stops."""
        cell = self._cells.get(name)
        if cell is None:
            raise UnknownActorError("no such actor", actor_id=name)
        if _current_cell.get() is cell:
            raise UsageError(
                "an actor cannot wait for its own stop; call self.context.stop()", actor_id=name
            )
        cell.close()
        await cell.done.wait()

    def _forget(self, cell: _Cell) -> None:
        if self._cells.get(cell.name) is cell:
            del self._cells[cell.name]

    # --- timers ---------------------------------------------------------------------

    def call_later(self, delay: float, ref: ActorRef[M, R], message: M) -> Timer:
        """Tell ``message`` to ``ref`` once, ``delay`` seconds from now (runtime clock)."""
        return self._schedule(anyio.current_time() + max(delay, 0.0), None, ref, message)

    def call_at(self, when: float, ref: ActorRef[M, R], message: M) -> Timer:
        """Tell ``message`` to ``ref`` once, when the clock reads ``when`` (epoch seconds)."""
        return self._schedule(self.clock.to_loop_time(when), None, ref, message)

    def call_every(
        self, interval: float, ref: ActorRef[M, R], message: M, *, first: float | None = None
    ) -> Timer:
        """Tell ``message`` to ``ref`` every ``interval`` seconds until cancelled.

        Args:
            first: Delay before the first firing (default: ``interval``).
        """
        if interval <= 0:
            raise UsageError(f"a repeating timer needs an interval > 0, not {interval}")
        start = interval if first is None else max(first, 0.0)
        return self._schedule(anyio.current_time() + start, interval, ref, message)

    def _schedule(
        self, due: float, interval: float | None, ref: ActorRef[M, R], message: M
    ) -> Timer:
        if self.closing:
            raise ActorClosedError("the runtime is shutting down")

        def deliver() -> bool:
            try:  # never waits: the timer task serves every timer
                self.deliver_soon(ref, message)
            except ActorError:
                return False  # the target stopped or broke: the timer ends with it
            return True

        timer = Timer._create(deliver, due, interval)
        self._timers.schedule(timer)
        return timer

    # --- lifecycle ------------------------------------------------------------------

    async def _shutdown(self, drain_timeout: float) -> None:
        self.closing = True
        self._timers.close()
        for cell in list(self._cells.values()):
            cell.close()
        with anyio.move_on_after(drain_timeout):
            for cell in list(self._cells.values()):
                await cell.done.wait()

    def statistics(self) -> RuntimeStatistics:
        """A snapshot of the runtime."""
        return RuntimeStatistics(
            actors=len(self._cells),
            timers=len(self._timers.queue),
            overflow=sum(len(waiting) for waiting in self._overflow.values()),
        )


@asynccontextmanager
async def open_runtime(
    *,
    clock_start: float | None = None,
    mailbox_size: int = 64,
    restart: RestartPolicy | None = None,
    drain_timeout: float = 10.0,
) -> AsyncIterator[Runtime]:
    """Run actors for the duration of the block, then shut them down gracefully.

    Args:
        clock_start: Epoch seconds the runtime clock reads at start (default: now);
            pin it for reproducible simulations.
        mailbox_size: Default mailbox size of spawned actors.
        restart: Default restart policy of spawned actors.
        drain_timeout: Seconds the actors get, at the end, to handle what is queued.

    An actor that crashes more often than its policy allows, with
    ``on_give_up="escalate"``, stops the runtime: its :class:`ActorBrokenError`
    leaves this block. (Several errors at once leave as an ``ExceptionGroup``.)
    """
    with single_error():
        async with anyio.create_task_group() as tg:
            clock = Clock(start=clock_start)
            policy = restart or RestartPolicy()
            runtime = Runtime._create(tg, clock, mailbox_size=mailbox_size, restart=policy)
            tg.start_soon(runtime._timers.run, name="timers")
            try:
                yield runtime
            except BaseException:
                runtime.closing = True
                runtime._timers.close()
                raise
            await runtime._shutdown(drain_timeout)
            tg.cancel_scope.cancel()
