"""What ``memvisor send`` and ``chat`` share: the LLM settings and a running agent.

```
llm_settings(--model, the agent's model) ── no server or no model ──► NoLLMConfigured (exit 2)
agent_session(home, name, settings) ── log + runtime + lazy archival + OpenAIClient
                                       └─► Session(agent ref, log, state())
```

Importing this module is cheap: the openai SDK is imported when a session
starts, LanceDB only when the agent first touches archival memory.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

import click
import msgspec

from ._cli_support import Home
from ._exceptions import ConfigError, MemvisorError, UsageError
from .actors import ActorRef, open_runtime
from .agent import (
    AgentConfig,
    AgentRequest,
    Amend,
    Amendment,
    Deliver,
    TurnReport,
    builtin_registry,
    lazy_archival,
    spawn_agent,
    tools_tokens,
)
from .agent._agent import Observer
from .events import (
    Event,
    EventLog,
    SqlitePromptStore,
    UserMessage,
    open_prompt_store,
    open_sqlite_log,
)
from .llm import OpenAIClient
from .llm._functions import FunctionSpec
from .memory import AgentState, ArchivalStore, fold_all

__all__ = [
    "LLMSettings",
    "NoLLMConfigured",
    "Session",
    "agent_events",
    "agent_session",
    "llm_server",
    "llm_settings",
    "read_agent",
    "read_events",
    "recording_prompts",
    "stored_prompts",
]

_NO_LLM = (
    "no LLM is configured: set OPENAI_BASE_URL to an OpenAI-compatible server"
    " (e.g. http://localhost:11434/v1 for Ollama) or OPENAI_API_KEY for OpenAI,"
    " and choose a model with --model or MEMVISOR_MODEL"
)


class NoLLMConfigured(ConfigError):
    """``send`` or ``chat`` was asked to run with no server or no model configured."""

    exit_status = 2


class LLMSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Which server and model a session talks to."""

    model: str
    base_url: str | None = None
    api_key: str | None = None


def llm_settings(model: str | None, agent_model: str | None) -> LLMSettings:
    """The settings for a session: ``--model``, else the agent's, else ``MEMVISOR_MODEL``.

    Raises:
        NoLLMConfigured: no server (``OPENAI_BASE_URL``/``OPENAI_API_KEY``) or no model.
    """
    base_url, api_key = llm_server()
    chosen = model or agent_model or os.environ.get("MEMVISOR_MODEL") or None
    if chosen is None:
        raise NoLLMConfigured(_NO_LLM)
    return LLMSettings(model=chosen, base_url=base_url, api_key=api_key)


def llm_server() -> tuple[str | None, str | None]:
    """``OPENAI_BASE_URL`` and ``OPENAI_API_KEY``; at least one is set.

    Raises:
        NoLLMConfigured: neither is set.
    """
    base_url = os.environ.get("OPENAI_BASE_URL") or None
    api_key = os.environ.get("OPENAI_API_KEY") or None
    if base_url is None and api_key is None:
        raise NoLLMConfigured(_NO_LLM)
    return base_url, api_key


async def agent_events(log: EventLog, name: str, *, until: int | None = None) -> list[Event]:
    """The agent's events, up to seq ``until`` (default: all of them).

    Raises:
        UsageError: there is no agent by that name, or ``until`` is past its last event.
    """
    events = await log.read(name, stop=None if until is None else until + 1)
    if not events:
        raise UsageError(f"no agent named {name!r} (create one with `memvisor agents create`)")
    if until is not None and len(events) < until:
        raise UsageError(f"{name!r} has {len(events)} events: --until {until} is past the end")
    return events


async def read_events(home: Home, name: str, *, until: int | None = None) -> list[Event]:
    """:func:`agent_events` from ``home``'s log, which is never created here.

    Raises:
        UsageError: there is no log, no agent by that name, or ``until`` is past its end.
    """
    if not home.log.exists():
        raise UsageError(f"no event log at {home.log} (run `memvisor demo` first?)")
    async with open_sqlite_log(home.log) as log:
        return await agent_events(log, name, until=until)


async def read_agent(log: EventLog, name: str) -> tuple[list[Event], AgentState]:
    """The agent's events and folded state.

    Raises:
        UsageError: there is no agent by that name.
    """
    events = await agent_events(log, name)
    return events, fold_all(events)


@asynccontextmanager
async def stored_prompts(home: Home) -> AsyncIterator[SqlitePromptStore | None]:
    """``home``'s prompt store for reading, or ``None`` where there is none (it is not
    created here).

    Raises:
        ForeignFileError: the file is not a prompt store.
        CorruptLogError: the file is damaged.
    """
    if not home.prompts.exists():
        yield None
        return
    async with open_prompt_store(home.prompts) as prompts:
        yield prompts


@asynccontextmanager
async def recording_prompts(home: Home) -> AsyncIterator[SqlitePromptStore | None]:
    """``home``'s prompt store for the agents to record their prompts in; ``None``, with
    a warning, if it cannot be opened: prompts are a debugging aid, and a damaged
    store must not stop the agents."""
    async with AsyncExitStack() as stack:
        try:
            prompts = await stack.enter_async_context(open_prompt_store(home.prompts))
        except MemvisorError as exc:
            click.echo(f"memvisor: warning: prompts are not recorded this time: {exc}", err=True)
            prompts = None
        yield prompts


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """A running agent in this process."""

    name: str
    agent: ActorRef[AgentRequest, TurnReport]
    log: EventLog
    schema_tokens: int
    """What the agent's function definitions add to every request (estimated tokens)."""

    async def send(self, text: str) -> TurnReport:
        """Deliver a user message and wait for the turn to end."""
        message = UserMessage(agent=self.name, seq=0, at=0.0, text=text)
        return await self.agent.ask(Deliver(event=message), timeout=None)

    async def amend(self, event: Amendment) -> TurnReport:
        """Have the agent log ``event`` (see :class:`~memvisor.agent.Amend`)."""
        return await self.agent.ask(Amend(event=event), timeout=None)


@asynccontextmanager
async def agent_session(
    home: Home,
    name: str,
    *,
    model: str | None = None,
    observe: Observer | None = None,
    tools: Iterable[FunctionSpec] = (),
) -> AsyncIterator[Session]:
    """Run agent ``name`` of ``home`` for the duration of the block.

    Raises:
        UsageError: no such agent (or no log at all).
        NoLLMConfigured: see :func:`llm_settings`.
    """
    llm_server()  # no server: say so before anything else (the agent may not exist yet)
    if not home.log.exists():
        raise UsageError(f"no agent named {name!r} (create one with `memvisor agents create`)")
    async with open_sqlite_log(home.log) as log:
        _, state = await read_agent(log, name)
        settings = llm_settings(model, state.model)

        def open_store() -> AbstractAsyncContextManager[ArchivalStore]:
            # LanceDB (over a second to import) only when a function first needs it.
            from ._cli_memory import embedder_from_spec
            from .memory import open_archival

            return open_archival(home.archival, embedder=embedder_from_spec(None))

        async with (
            OpenAIClient(base_url=settings.base_url, api_key=settings.api_key) as llm,
            open_runtime() as runtime,
            lazy_archival(open_store) as archival,
            recording_prompts(home) as prompts,
        ):
            ref = spawn_agent(
                runtime,
                name,
                log=log,
                llm=llm,
                archival=archival,
                tools=tools,
                config=AgentConfig(model=settings.model),
                observe=observe,
                prompts=prompts,
            )
            schemas = builtin_registry(tools).tool_schemas()
            yield Session(name=name, agent=ref, log=log, schema_tokens=tools_tokens(schemas))
