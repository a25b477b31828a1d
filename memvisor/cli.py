"""The ``memvisor`` command.

Every subcommand has ``--help``. Expected failures (a foreign file at the log's
path, an unknown agent, a bad option) print one line on stderr and exit with a
non-zero status, never a traceback.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import anyio
import click
import msgspec

from ._cli_support import Home, user_errors
from ._home import resolve_home
from .events import EVENT_TYPES, Event, event_type, open_sqlite_log

__all__ = ["main"]

_json = msgspec.json.Encoder()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="MEMVISOR_HOME",
    help="Directory holding the event log and memory (env MEMVISOR_HOME; default ~/.memvisor).",
)
@click.version_option(package_name="memvisor")
@click.pass_context
def cli(ctx: click.Context, home: Path | None) -> None:
    """memvisor: LLM agents that manage their own memory, as event-sourced actors."""
    ctx.obj = Home(resolve_home(home))


@cli.command()
@click.pass_obj
def demo(home: Home) -> None:
    """Watch an agent page its own memory, with a scripted model (no LLM needed).

    A fact told early is pushed out of the small context window by later talk,
    compacted into a summary, and recovered with conversation_search. Runs the
    real runtime, log and memory; only the model is a Python script.
    """
    from ._demo import run_demo

    click.echo(
        "memvisor demo: the model is a Python script (no LLM); the runtime, the log,"
        " core memory, compaction and recall are real.\n"
    )
    with user_errors():
        report = run_demo(home)
    verdict = (
        "the fact was recovered from recall"
        if report.recovered
        else "the fact was NOT recovered (this is a bug: please report it)"
    )
    click.echo(
        f"\n{report.events} events logged for agent {report.agent!r};"
        f" {report.compactions} compaction(s); {verdict}."
    )
    where, name = f"memvisor --home {home.path}", report.agent
    hints = [
        (f"{where} log {name}", "every event"),
        (f"{where} report {name} -o {name}.html", "the timeline, in a browser"),
        (f"{where} replay {name} --check", "today's code re-decides the run"),
    ]
    width = max(len(command) for command, _ in hints)
    for i, (command, what) in enumerate(hints):
        click.echo(f"{'next:' if i == 0 else '':<5} {command:<{width}}  # {what}")
    click.echo("      (point `memvisor chat` at a real model: see the README)")
    if not report.recovered:
        sys.exit(1)


@cli.command("log")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--from", "start", type=click.IntRange(min=1), default=1, help="First seq to show.")
@click.option("--until", "until", type=click.IntRange(min=1), help="Last seq to show.")
@click.option("--type", "types", multiple=True, help="Only events of this type (repeatable).")
@click.option("--tail", type=click.IntRange(min=1), help="Only the last N events.")
@click.pass_obj
def log_cmd(
    home: Home,
    name: str | None,
    as_json: bool,
    start: int,
    until: int | None,
    types: tuple[str, ...],
    tail: int | None,
) -> None:
    """Show an agent's events; with no NAME, list the agents in the log.

    With --json each line is an object with at least seq, type, at and the
    event's own fields.
    """
    unknown = set(types) - EVENT_TYPES
    if unknown:
        raise click.BadParameter(
            f"unknown event type {sorted(unknown)[0]!r}; known: {', '.join(sorted(EVENT_TYPES))}",
            param_hint="--type",
        )
    if not home.log.exists():
        raise click.ClickException(f"no event log at {home.log} (run `memvisor demo` first?)")
    query = _LogQuery(start=start, stop=None if until is None else until + 1, tail=tail)
    with user_errors():
        if name is None:
            anyio.run(_list_agents, home.log)
            return
        events = anyio.run(_read_events, home.log, name, query)
    for event in events:
        if not types or event_type(event) in types:
            click.echo(_json.encode(event).decode() if as_json else _summary(event))


class _LogQuery(msgspec.Struct, frozen=True, kw_only=True):
    start: int
    stop: int | None
    tail: int | None


async def _list_agents(path: Path) -> None:
    async with open_sqlite_log(path) as log:
        for agent in await log.agents():
            click.echo(f"{agent}\t{await log.last_seq(agent)} events")


async def _read_events(path: Path, name: str, query: _LogQuery) -> list[Event]:
    async with open_sqlite_log(path) as log:
        if await log.last_seq(name) == 0:
            raise click.ClickException(f"no agent named {name!r} in {path}")
        if query.tail is not None:
            return await log.tail(name, query.tail)
        return await log.read(name, start=query.start, stop=query.stop)


def _summary(event: Event) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(event.at))
    fields = msgspec.structs.asdict(event)
    for key in ("agent", "seq", "at"):
        fields.pop(key)
    detail = " ".join(f"{k}={v!r}" for k, v in fields.items() if v not in (None, (), ""))
    return f"{event.seq:>6}  {stamp}  {event_type(event):<20} {detail}"


def _register_subcommands() -> None:
    from ._cli_agents import agents
    from ._cli_chat import chat
    from ._cli_lineage import diff, export, fork, import_
    from ._cli_memory import attach, load, sources
    from ._cli_replay import replay
    from ._cli_report import report
    from ._cli_send import send
    from ._cli_serve import serve
    from ._cli_sim import sim

    for command in (
        agents,
        send,
        chat,
        serve,
        load,
        attach,
        sources,
        sim,
        fork,
        diff,
        export,
        import_,
        replay,
        report,
    ):
        cli.add_command(command)


_register_subcommands()


def main() -> None:
    """Entry point of the ``memvisor`` console script."""
    try:
        cli(prog_name="memvisor")
    except* BrokenPipeError:  # `memvisor log … | head`: the reader left, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
