"""Starting agents on a runtime: the agent actor, its processor, and archival memory on demand.

```
spawn_agent(runtime, "ada", log=…, llm=…)
   ├─ "ada/processor"  Processor(llm)
   └─ "ada"            AgentActor  ──► archival() ──► LazyArchival: opened by its own task
                                                      on first use, closed with the block
```

Opening LanceDB is slow (seconds), and most turns never touch archival memory,
so it is opened the first time a function needs it. The store lives in a task of
its own because its context manager holds a task group, which must be exited by
the task that entered it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
import anyio.abc

from .._exceptions import MemvisorError, UsageError
from ..actors import ActorRef, Runtime
from ..events import EventLog
from ..llm._functions import FunctionSpec
from ..llm._types import LLMClient
from ..memory._archival_model import ArchivalStore
from ._agent import AgentActor, AgentConfig, AgentRequest, ArchivalOpener, Observer, TurnReport
from ._builtins import builtin_registry
from ._processor import Processor
from ._toolkit import ToolError

__all__ = ["LazyArchival", "lazy_archival", "no_archival", "spawn_agent"]


def spawn_agent(
    runtime: Runtime,
    name: str,
    *,
    log: EventLog,
    llm: LLMClient,
    archival: ArchivalOpener | None = None,
    tools: Iterable[FunctionSpec] = (),
    config: AgentConfig = AgentConfig(),  # noqa: B008 (frozen)
    observe: Observer | None = None,
) -> ActorRef[AgentRequest, TurnReport]:
    """Start agent ``name`` (its log must begin with ``agent_created``) and its processor.

    Args:
        runtime: Where the actors run.
        name: The agent, as named in the log.
        log: Its event log.
        llm: The model client its processor calls.
        archival: Opens archival memory on first use (default: none; archival
            functions then fail with a message the model reads).
        tools: User functions offered besides the built-ins (see ``user_tool``).
        config: Step limits, tool limits, the default model.
        observe: Called with each event right after it is logged.

    Raises:
        UsageError: a tool reuses a built-in's name, or an actor by that name runs.
    """
    functions = builtin_registry(tools)
    processor = runtime.spawn(f"{name}/processor", lambda: Processor(llm))
    return runtime.spawn(
        name,
        lambda: AgentActor(
            log=log,
            processor=processor,
            functions=functions,
            archival=archival or no_archival,
            config=config,
            observe=observe,
        ),
    )


async def no_archival() -> ArchivalStore:
    """The opener of an agent that has no archival memory."""
    raise ToolError("archival memory is not available to this agent")


class LazyArchival:
    """An :data:`ArchivalOpener` that opens the store once, on first use."""

    def __init__(
        self,
        tg: anyio.abc.TaskGroup,
        opener: Callable[[], AbstractAsyncContextManager[ArchivalStore]],
    ) -> None:
        self._tg = tg
        self._opener = opener
        self._store: ArchivalStore | None = None
        self._error: MemvisorError | OSError | None = None
        self._started = False
        self._ready = anyio.Event()
        self._closed = anyio.Event()

    @property
    def opened(self) -> bool:
        """Whether the store was opened."""
        return self._store is not None

    async def __call__(self) -> ArchivalStore:
        if not self._started:
            if self._closed.is_set():
                raise UsageError("archival memory was closed")
            self._started = True
            self._tg.start_soon(self._hold, name="archival memory")
        await self._ready.wait()
        if self._store is None:
            assert self._error is not None
            raise ToolError(f"archival memory could not be opened: {self._error}")
        return self._store

    async def _hold(self) -> None:
        try:
            async with self._opener() as store:
                self._store = store
                self._ready.set()
                await self._closed.wait()
        except (MemvisorError, OSError) as exc:
            self._error = exc
        finally:
            self._store = None
            self._ready.set()

    def close(self) -> None:
        """Close the store (if it was opened) once its current work is done."""
        self._closed.set()


@asynccontextmanager
async def lazy_archival(
    opener: Callable[[], AbstractAsyncContextManager[ArchivalStore]],
) -> AsyncIterator[LazyArchival]:
    """A :class:`LazyArchival` for the duration of the block."""
    async with anyio.create_task_group() as tg:
        archival = LazyArchival(tg, opener)
        try:
            yield archival
        finally:
            archival.close()
