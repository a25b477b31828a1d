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
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import msgspec

from ._cli_support import Home
from ._exceptions import ConfigError, UsageError
from .actors import ActorRef, open_runtime
from .agent import (
    AgentConfig,
    AgentRequest,
    Amend,
    Amendment,
    Deliver,
    TurnReport,
    lazy_archival,
    spawn_agent,
)
from .agent._agent import Observer
from .events import Event, EventLog, UserMessage, open_prompt_store, open_sqlite_log
from .llm import OpenAIClient
from .llm._functions import FunctionSpec
from .memory import AgentState, ArchivalStore, fold_all

__all__ = [
    "NAME_RE",
    "LLMSettings",
    "NoLLMConfigured",
    "Session",
    "agent_session",
    "check_name",
    "llm_server",
    "llm_settings",
    "read_agent",
]

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

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


def check_name(name: str) -> str:
    """``name`` if it is a valid agent name.

    Raises:
        UsageError: it is not 1-64 letters, digits, ``_``, ``.`` or ``-`` starting
            with a letter or digit.
    """
    if not NAME_RE.fullmatch(name):
        raise UsageError(
            f"invalid agent name {name!r}: use 1-64 letters, digits, '_', '.' or '-',"
            " starting with a letter or digit"
        )
    return name


async def read_agent(log: EventLog, name: str) -> tuple[list[Event], AgentState]:
    """The agent's events and folded state.

    Raises:
        UsageError: there is no agent by that name.
    """
    events = await log.read(name)
    if not events:
        raise UsageError(f"no agent named {name!r} (create one with `memvisor agents create`)")
    return events, fold_all(events)


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """A running agent in this process."""

    name: str
    agent: ActorRef[AgentRequest, TurnReport]
    log: EventLog

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
            open_prompt_store(home.prompts) as prompts,
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
            yield Session(name=name, agent=ref, log=log)
