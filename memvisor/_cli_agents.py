"""``memvisor agents create|list|show|delete``: agents as their logs describe them.

```
create  ──► agent_created (seq 1): system prompt, persona and human blocks, model, window
list    ──► per agent: first event (model), last event (activity), recall count
show    ──► fold the log ──► blocks, message counts, token figures, summary, timers, sources
delete  ──► confirm ──► archival passages of the agent (if HOME/archival exists) ──► its log
```

Nothing here talks to an LLM. ``list`` and ``show`` never create a log where
there is none. ``delete`` removes the archival passages first: if that fails the
agent is still there to delete again, where the other order would leave
passages no command can reach (and a new agent of the same name would find its
inserts dropped as repeats of the old ids).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
import click
import msgspec

from ._agent_report import AgentListing, AgentReport, agent_report, format_report
from ._cli_session import read_agent
from ._cli_support import Home, user_errors
from ._exceptions import ConflictError, UsageError
from ._names import check_name
from .agent import PromptName, default_prompt, new_agent
from .events import AgentCreated, open_sqlite_log
from .memory import DEFAULT_BLOCK_LIMIT
from .memory._messages import format_time

__all__ = ["agents"]

MIN_CONTEXT_WINDOW = 1024
DEFAULT_CONTEXT_WINDOW = 8192

_json = msgspec.json.Encoder()


@click.group()
def agents() -> None:
    """Create, list, inspect and delete agents."""


_TEXT_HELP = (
    "{what} (default: HOME/prompts/{name}.txt if present, else memvisor's)."
    " @FILE reads it from a file; @@ starts a literal @."
)
_PROMPTS: tuple[PromptName, ...] = ("persona", "human", "system")


@agents.command()
@click.argument("name")
@click.option(
    "--persona",
    metavar="TEXT|@FILE",
    help=_TEXT_HELP.format(what="Who the agent is", name="persona"),
)
@click.option(
    "--human",
    metavar="TEXT|@FILE",
    help=_TEXT_HELP.format(what="What it knows of its user", name="human"),
)
@click.option(
    "--system",
    metavar="TEXT|@FILE",
    help=_TEXT_HELP.format(what="The system prompt", name="system"),
)
@click.option(
    "--model",
    help="Model it runs on (default: env MEMVISOR_MODEL; with neither, `send` and `chat`"
    " need --model or MEMVISOR_MODEL).",
)
@click.option(
    "--context-window",
    type=click.IntRange(min=MIN_CONTEXT_WINDOW),
    default=DEFAULT_CONTEXT_WINDOW,
    show_default=True,
    metavar="TOKENS",
    help="The model's context window, in tokens.",
)
@click.pass_obj
def create(
    home: Home,
    *,
    name: str,
    persona: str | None,
    human: str | None,
    system: str | None,
    model: str | None,
    context_window: int,
) -> None:
    """Create agent NAME, with its persona, its human and its system prompt.

    Texts not given come from HOME/prompts/ (persona.txt, human.txt, system.txt)
    if present, else memvisor's defaults. Talk to it with `memvisor chat NAME`.
    """
    with user_errors():
        check_name(name)
        given = {"persona": persona, "human": human, "system": system}
        texts: dict[PromptName, str] = {}
        for key in _PROMPTS:
            text = _text(given[key], f"--{key}")
            texts[key] = default_prompt(key, home=home.path) if text is None else text
        _check_fits("persona", texts["persona"])
        _check_fits("human", texts["human"])
        chosen = model or os.environ.get("MEMVISOR_MODEL") or None
        created = new_agent(
            name,
            at=time.time(),
            model=chosen,
            persona=texts["persona"],
            human=texts["human"],
            system=texts["system"],
            context_window=context_window,
        )
        anyio.run(_create, home.log, created)
    click.echo(
        f"created agent {name!r} (model {chosen or 'not set'},"
        f" context window {context_window:,} tokens)"
    )
    if chosen is None:
        click.echo("no model: give `send` and `chat` --model, or set MEMVISOR_MODEL", err=True)
    click.echo(f"next: memvisor --home {home.path} chat {name}")


def _text(value: str | None, option: str) -> str | None:
    """The text an option gives: itself, the file named after ``@``, or ``None``.

    Raises:
        UsageError: the file cannot be read as UTF-8 text.
    """
    if value is None or not value.startswith("@"):
        return value
    if value.startswith("@@"):
        return value[1:]
    path = Path(value[1:]).expanduser()
    if not value[1:]:
        raise UsageError(f"{option} @FILE: name a file after the @")
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise UsageError(f"{option}: no file {str(path)!r}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{option}: cannot read {str(path)!r}: {exc}") from None


def _check_fits(label: str, text: str) -> None:
    if len(text) > DEFAULT_BLOCK_LIMIT:
        raise UsageError(
            f"the {label} is {len(text):,} characters, over the {DEFAULT_BLOCK_LIMIT:,}-character"
            f" limit of a core memory block: shorten it (keep the rest for archival memory)"
        )


async def _create(path: Path, created: AgentCreated) -> None:
    async with open_sqlite_log(path) as log:
        exists = UsageError(
            f"an agent named {created.agent!r} exists already"
            f" (see `memvisor agents show {created.agent}`)"
        )
        if await log.last_seq(created.agent):
            raise exists
        try:
            await log.append([created])
        except ConflictError:  # created by another process meanwhile
            raise exists from None


@agents.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per agent and line.")
@click.pass_obj
def list_agents(home: Home, *, as_json: bool) -> None:
    """List the agents: name, model, messages in recall, last activity."""
    with user_errors():
        listing = anyio.run(_list, home.log) if home.log.exists() else []
    if not listing:
        if not as_json:
            click.echo("no agents (create one with `memvisor agents create NAME`)", err=True)
        return
    if as_json:
        for row in listing:
            click.echo(_json.encode(row).decode())
        return
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        for row in listing:
            click.echo(
                f"{row.name}\t{row.model or '-'}\t{row.messages} messages"
                f"\t{format_time(row.last_activity)}"
            )
        return
    from rich.table import Table

    table = Table("agent", "model", "messages", "last activity", box=None)
    for row in listing:
        table.add_row(
            row.name, row.model or "-", f"{row.messages:,}", format_time(row.last_activity)
        )
    console.print(table)


async def _list(path: Path) -> list[AgentListing]:
    rows = []
    async with open_sqlite_log(path) as log:
        for name in await log.agents():
            first = await log.read(name, limit=1)
            last = await log.tail(name, 1)
            if not first or not last:
                continue  # deleted meanwhile
            created = first[0]
            rows.append(
                AgentListing(
                    name=name,
                    model=created.model if isinstance(created, AgentCreated) else None,
                    events=last[0].seq,
                    messages=await log.count_recall(name),
                    last_activity=last[0].at,
                )
            )
    return rows


@agents.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_obj
def show(home: Home, *, name: str, as_json: bool) -> None:
    """Show agent NAME: core memory, messages, tokens, summary, timers, sources."""
    with user_errors():
        report = anyio.run(_show, home, name)
    if as_json:
        click.echo(_json.encode(report).decode())
    else:
        for line in format_report(report):
            click.echo(line)


async def _show(home: Home, name: str) -> AgentReport:
    if not home.log.exists():
        raise UsageError(f"no agent named {name!r} (create one with `memvisor agents create`)")
    async with open_sqlite_log(home.log) as log:
        events, state = await read_agent(log, name)
    return agent_report(name, events, state)


@agents.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def delete(home: Home, *, name: str, yes: bool) -> None:
    """Delete agent NAME: its whole log, its recall and its archival passages.

    Asks first, unless --yes (without a terminal to answer on, --yes is needed).
    Stop the agent first: a `chat` or `send` still running would write on.
    """
    with user_errors():
        events = anyio.run(_count_events, home, name)
        if not yes:
            question = f"delete agent {name!r} and its {events:,} events? This cannot be undone"
            try:
                confirmed = click.confirm(question, default=False)
            except click.Abort:  # no answer: end of input, or Ctrl-C
                click.echo("", err=True)
                raise UsageError(
                    f"not deleting {name!r} without confirmation: pass --yes to delete it"
                    " without asking"
                ) from None
            if not confirmed:
                click.echo(f"kept {name!r}")
                return
        passages, deleted = anyio.run(_delete, home, name)
    archival = f" and {passages:,} archival passages" if passages else ""
    click.echo(f"deleted agent {name!r}: {deleted:,} events{archival}")


async def _count_events(home: Home, name: str) -> int:
    missing = UsageError(f"no agent named {name!r}")
    if not home.log.exists():
        raise missing
    async with open_sqlite_log(home.log) as log:
        events = await log.last_seq(name)
    if not events:
        raise missing
    return events


async def _delete(home: Home, name: str) -> tuple[int, int]:
    passages = 0
    if home.archival.exists():
        from .memory import open_archival

        async with open_archival(home.archival, embedder=None) as store:
            passages = await store.delete_owner(name)
    async with open_sqlite_log(home.log) as log:
        deleted = await log.delete(name)
    return passages, deleted
