"""``memvisor serve``: one process hosting the agents of a config and every source feeding them.

```
memvisor.toml ─► agents (created on first start) ─► runtime: agent + processor actors
                 [[webhooks]] ─► HTTP (hypercorn) ─┐
                 [[watch]]    ─► file watchers ────┼─► Inbox (HOME/inbox.sqlite3, durable,
                                                   │   deduped, bounded) ─► pump ─► agent
                 [[timers]]   ─► timer_set events in the agent's log (re-armed on start;
                                 one the config no longer has is cancelled)
                 GET /agents/NAME/messages ◄── LogOutbox (the agents' replies, long-poll)
SIGINT/SIGTERM ─► stop taking requests and file changes ─► turns in flight finish
                  (the runtime drains its mailboxes) ─► exit 0
```

Nothing acknowledged is lost: a webhook gets its 202 once its event is in the
inbox log, and the inbox hands each event to its agent exactly once, also
across restarts.
"""

from __future__ import annotations

import functools
import hashlib
import signal
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import anyio
import anyio.abc
import msgspec

from ._cli_session import llm_settings, recording_prompts
from ._cli_support import Home
from ._config import AgentEntry, Config, TimerEntry
from ._exceptions import ConfigError
from .actors import ActorRef, open_runtime
from .agent import (
    AgentConfig,
    AgentDirectory,
    AgentRequest,
    Amend,
    TurnReport,
    lazy_archival,
    new_agent,
    spawn_agent,
)
from .events import EventLog, TimerCancelled, TimerSet, open_sqlite_log
from .llm import OpenAIClient
from .memory import ArchivalStore, fold_all
from .sources import watch
from .sources._inbox import Inbox, LogOutbox
from .sources._schedule import Every, Schedule, parse_cron, parse_every
from .sources._webhook import serve_webhooks, webhook_app
from .sources._webhook_rules import WebhookAuth

__all__ = ["INBOX_FILENAME", "serve"]

INBOX_FILENAME = "inbox.sqlite3"


async def serve(config: Config, home: Home, *, say: Callable[[str], None]) -> None:
    """Host ``config`` until SIGINT/SIGTERM, then shut down cleanly.

    Raises:
        NoLLMConfigured: no LLM server in the environment.
        ConfigError: a secret the config names is missing, or the port is taken.
    """
    models = {a.name: llm_settings(a.model, None) for a in config.agents}  # or NoLLMConfigured
    auth = {
        w.agent: WebhookAuth(secret=secret, token=token)
        for w in config.webhooks
        for secret, token in [config.webhook_secret(w)]
    }
    home.path.mkdir(parents=True, exist_ok=True)

    def open_store() -> AbstractAsyncContextManager[ArchivalStore]:
        from ._cli_memory import embedder_from_spec
        from .memory import open_archival

        return open_archival(home.archival, embedder=embedder_from_spec(None))

    names = [a.name for a in config.agents]
    async with (
        open_sqlite_log(home.log) as log,
        open_sqlite_log(home.path / INBOX_FILENAME) as inbox_log,
        OpenAIClient() as llm,
        lazy_archival(open_store) as archival,
        # Closed after the runtime: the turns that finish while it stops record theirs.
        recording_prompts(home) as prompts,
        open_runtime() as runtime,
    ):
        await _create_missing(log, config.agents, home, runtime.clock.now)
        outbox = LogOutbox(log, names)
        directory = AgentDirectory(runtime)
        refs: dict[str, ActorRef[AgentRequest, TurnReport]] = {}
        for entry in config.agents:
            refs[entry.name] = spawn_agent(
                runtime,
                entry.name,
                log=log,
                llm=llm,
                archival=archival,
                config=AgentConfig(model=models[entry.name].model),
                observe=outbox.said,
                directory=directory if len(names) > 1 else None,
                prompts=prompts,
            )
        await _sync_config_timers(log, refs, config.timers, runtime.clock.now)
        inbox = await Inbox.open(inbox_log, names, now=runtime.clock.now)
        stopping = anyio.Event()
        async with anyio.create_task_group() as sources:
            for name, ref in refs.items():
                await sources.start(inbox.pump, name, ref, log)
            for spec in config.watch_specs():
                spec.root.mkdir(parents=True, exist_ok=True)
                await sources.start(watch, spec, inbox)
                say(f"watching {spec.root} ({spec.glob}) for {spec.agent}")
            app = webhook_app(inbox, outbox, auth, max_body=config.server.max_body)
            serve_http = functools.partial(serve_webhooks, shutdown_trigger=stopping.wait)
            host, port = config.server.host, config.server.port
            try:
                url = await sources.start(serve_http, app, host, port)
            except OSError as exc:
                raise ConfigError(
                    f"cannot listen on {host}:{port}: {exc.strerror or exc}"
                ) from None
            say(f"serving {', '.join(names)} on {url} (Ctrl-C stops)")
            await _until_signal(stopping)
            say("stopping: no new events; letting the turns in flight finish")
            sources.cancel_scope.cancel()
    say("stopped")


async def _until_signal(stopping: anyio.Event) -> None:
    async with anyio.create_task_group() as tg:

        async def on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    stopping.set()
                    return

        tg.start_soon(on_signal)
        await stopping.wait()
        tg.cancel_scope.cancel()


async def _create_missing(
    log: EventLog, entries: tuple[AgentEntry, ...], home: Home, now: Callable[[], float]
) -> None:
    for entry in entries:
        if await log.last_seq(entry.name):
            continue  # created on an earlier start: its log is the truth now
        created = new_agent(
            entry.name,
            at=now(),
            model=entry.model,
            persona=entry.persona,
            human=entry.human,
            system=entry.system,
            context_window=entry.context_window,
            tags=entry.tags,
            home=home.path,
        )
        await log.append([created])


def _timer_id(entry: TimerEntry) -> str:
    digest = hashlib.sha256(msgspec.json.encode(entry)).hexdigest()[:12]
    return f"{_CONFIG_TIMER}{digest}"


_CONFIG_TIMER = "config-"
"""The prefix of the ids of timers that come from the config (the rest is its hash)."""


async def _sync_config_timers(
    log: EventLog,
    refs: dict[str, ActorRef[AgentRequest, TurnReport]],
    timers: tuple[TimerEntry, ...],
    now: Callable[[], float],
) -> None:
    """Make each agent's config timers those of the config: log a ``timer_set`` for
    each new one and a ``timer_cancelled`` for each one the config no longer has
    (edited or removed). The agent arms them, and re-arms them at every start."""
    wanted = {_timer_id(entry): entry for entry in timers}
    for agent, ref in refs.items():
        state = fold_all(await log.read(agent))
        have = {t.timer_id for t in state.timers if t.timer_id.startswith(_CONFIG_TIMER)}
        for timer_id in sorted(have - wanted.keys()):
            gone = TimerCancelled(agent="", seq=0, at=0.0, timer_id=timer_id)
            await ref.ask(Amend(event=gone))
        for timer_id, entry in wanted.items():
            if entry.agent == agent and timer_id not in have:
                await ref.ask(Amend(event=_config_timer(timer_id, entry, now())))


def _config_timer(timer_id: str, entry: TimerEntry, now: float) -> TimerSet:
    """The ``timer_set`` of a config timer (the config was checked: one of every and cron)."""
    if entry.cron is not None:
        schedule: Schedule = parse_cron(entry.cron)
    else:
        schedule = Every(seconds=parse_every(entry.every or ""))
    return TimerSet(
        agent="",
        seq=0,
        at=0.0,
        timer_id=timer_id,
        due=schedule.next_fire(now),
        cron=entry.cron,
        every=schedule.seconds if isinstance(schedule, Every) else None,
        text=entry.text,
    )
