"""``memvisor serve``: one process hosting the agents of a config and every source feeding them.

```
memvisor.toml ─► agents (created on first start) ─► runtime: agent + processor actors
                 [[webhooks]] ─► HTTP (hypercorn) ─┐
                 [[watch]]    ─► file watchers ────┼─► Inbox (HOME/inbox.sqlite3, durable,
                                                   │   deduped, bounded) ─► pump ─► agent
                 [[timers]]   ─► timer_set events in the agent's log (re-armed on start)
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

from ._cli_session import llm_settings
from ._cli_support import Home
from ._config import AgentEntry, Config, TimerEntry
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
from .events import EventLog, TimerSet, open_prompt_store, open_sqlite_log
from .llm import OpenAIClient
from .memory import ArchivalStore, fold_all
from .sources import WatchSpec, watch
from .sources._inbox import Inbox, LogOutbox
from .sources._schedule import Every, next_fire, parse_cron, parse_every
from .sources._webhook import serve_webhooks, webhook_app
from .sources._webhook_rules import WebhookAuth

__all__ = ["INBOX_FILENAME", "serve"]

INBOX_FILENAME = "inbox.sqlite3"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


async def serve(
    config: Config,
    home: Home,
    *,
    say: Callable[[str], None],
    task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
    stop: anyio.Event | None = None,
) -> None:
    """Host ``config`` until SIGINT/SIGTERM (or ``stop``), then shut down cleanly.

    Reports the server's base URL through ``task_status`` once everything listens.

    Raises:
        NoLLMConfigured: no LLM server in the environment.
        ConfigError: a secret the config names is missing.
    """
    models = {a.name: llm_settings(a.model, None) for a in config.agents}  # or NoLLMConfigured
    auth = {
        w.agent: WebhookAuth(secret=secret, token=token)
        for w in config.webhooks
        for secret, token in [config.webhook_secret(w)]
    }
    host = config.server.host
    open_door = not auth or any(a.secret is None and a.token is None for a in auth.values())
    if open_door and host not in _LOOPBACK:
        say(f"no webhook auth configured for every agent: binding to 127.0.0.1, not {host}")
        host = "127.0.0.1"
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
        open_runtime() as runtime,
        open_prompt_store(home.prompts) as prompts,
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
        await _arm_config_timers(log, refs, config.timers, runtime.clock.now)
        inbox = await Inbox.open(inbox_log, names, now=runtime.clock.now)
        stopping = stop or anyio.Event()
        async with anyio.create_task_group() as sources:
            for name, ref in refs.items():
                await sources.start(inbox.pump, name, ref, log)
            for watched in config.watch:
                spec = WatchSpec(
                    agent=watched.agent,
                    root=config.resolve(watched.path),
                    glob=watched.glob,
                    debounce=watched.debounce,
                    max_chars=watched.max_chars,
                )
                spec.root.mkdir(parents=True, exist_ok=True)
                await sources.start(watch, spec, inbox)
                say(f"watching {spec.root} ({spec.glob}) for {spec.agent}")
            app = webhook_app(inbox, outbox, auth, max_body=config.server.max_body)
            serve_http = functools.partial(serve_webhooks, shutdown_trigger=stopping.wait)
            url = await sources.start(serve_http, app, host, config.server.port)
            say(f"serving {', '.join(names)} on {url} (Ctrl-C stops)")
            task_status.started(url)
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
    return f"config-{digest}"


async def _arm_config_timers(
    log: EventLog,
    refs: dict[str, ActorRef[AgentRequest, TurnReport]],
    timers: tuple[TimerEntry, ...],
    now: Callable[[], float],
) -> None:
    """Log a ``timer_set`` for each config timer the agent does not have yet (the
    agent arms it, and re-arms it at every start from its log)."""
    for entry in timers:
        timer_id = _timer_id(entry)
        state = fold_all(await log.read(entry.agent))
        if any(t.timer_id == timer_id for t in state.timers):
            continue
        if entry.cron is not None:
            due = next_fire(now(), parse_cron(entry.cron))
            timer = TimerSet(
                agent="",
                seq=0,
                at=0.0,
                timer_id=timer_id,
                due=due,
                cron=entry.cron,
                text=entry.text,
            )
        else:
            assert entry.every is not None  # the config checks: one of every and cron
            schedule = Every(seconds=parse_every(entry.every))
            timer = TimerSet(
                agent="",
                seq=0,
                at=0.0,
                timer_id=timer_id,
                due=schedule.next_fire(now()),
                every=schedule.seconds,
                text=entry.text,
            )
        await refs[entry.agent].ask(Amend(event=timer))
