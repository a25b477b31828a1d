"""Starting agents on a runtime: the agent actor, its processor, archival memory on
demand, and the directory through which agents find each other.

```
spawn_agent(runtime, "ada", log=…, llm=…, directory=…)
   ├─ "ada/processor"  Processor(llm)
   ├─ "ada"            AgentActor  ──► archival() ──► LazyArchival: opened by its own task
   │                                                  on first use, closed with the block
   └─ directory        "ada" registered now; its tags when its actor has read its
                       agent_created (so tags are known once the agent has started)
```

An :class:`AgentDirectory` is the host's list of the agents of one runtime, by
name and tag; the messaging functions read it (as a :class:`Directory`), and the
agents deliver to each other by looking the name up in the runtime. An agent
whose actor has stopped drops out of it.

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

from .._exceptions import MemvisorError, UnknownActorError, UsageError
from ..actors import ActorRef, Runtime
from ..events import EventLog, PromptRecorder
from ..llm._functions import FunctionSpec
from ..llm._types import LLMClient
from ..memory._archival_model import ArchivalStore
from ._agent import AgentActor, AgentConfig, AgentRequest, ArchivalOpener, Observer, TurnReport
from ._builtins import builtin_registry
from ._processor import Processor
from ._toolkit import ToolError

__all__ = ["AgentDirectory", "LazyArchival", "lazy_archival", "no_archival", "spawn_agent"]


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
    directory: AgentDirectory | None = None,
    prompts: PromptRecorder | None = None,
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
        directory: The agents it can message (and be messaged by): it is
            registered there, and offered the messaging functions. Without one
            it runs alone and is not shown them.
        prompts: Where to keep each prompt it sends (for ``replay --check``'s
            diffs); default: nowhere, the log keeps their hashes only.

    Raises:
        UsageError: a tool reuses a built-in's name, or an actor by that name runs.
    """
    functions = builtin_registry(tools, messaging=directory is not None)
    processor = runtime.spawn(f"{name}/processor", lambda: Processor(llm))
    ref = runtime.spawn(
        name,
        lambda: AgentActor(
            log=log,
            processor=processor,
            functions=functions,
            archival=archival or no_archival,
            config=config,
            observe=observe,
            directory=directory,
            prompts=prompts,
        ),
    )
    if directory is not None:
        directory.register(name)
    return ref


class AgentDirectory:
    """The agents of one runtime, by name and tag: what the messaging functions see.

    Implements :class:`Directory`. :func:`spawn_agent` registers each agent; its
    actor registers its tags (from its ``agent_created``) when it starts. A host
    that knows the tags sooner may register them itself, before spawning.
    """

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._tags: dict[str, tuple[str, ...]] = {}
        self._tagged: dict[str, set[str]] = {}

    def register(self, name: str, tags: Iterable[str] | None = None) -> None:
        """Add agent ``name``, or change its tags; ``None`` keeps the tags it has."""
        old = self._tags.get(name, ())
        new = old if tags is None else tuple(dict.fromkeys(tags))
        for tag in old:
            self._tagged[tag].discard(name)
        for tag in new:
            self._tagged.setdefault(tag, set()).add(name)
        self._tags[name] = new

    def forget(self, name: str) -> None:
        """Remove agent ``name`` (a stopped agent drops out anyway)."""
        for tag in self._tags.pop(name, ()):
            self._tagged[tag].discard(name)

    def tags_of(self, name: str) -> tuple[str, ...]:
        """The tags agent ``name`` was registered with."""
        return self._tags.get(name, ())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._tags and self._live(name)

    def names(self) -> list[str]:
        """Every registered agent whose actor runs, sorted."""
        return sorted(name for name in self._tags if self._live(name))

    def tagged(self, tag: str) -> list[str]:
        """The running agents with ``tag``, sorted."""
        return sorted(name for name in self._tagged.get(tag, ()) if self._live(name))

    def _live(self, name: str) -> bool:
        try:
            self._runtime.lookup(name)
        except UnknownActorError:
            return False
        return True


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
