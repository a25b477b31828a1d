"""``memvisor replay NAME [--until SEQ]``: the agent as it was, folded from its log alone.

No LLM server, no archival store: everything shown is a fold of the log (the
archival count comes from the log too), so it works on a log whose server is
long gone.
"""

from __future__ import annotations

import anyio
import click

from ._cli_agents import agent_report, format_report
from ._cli_session import check_name, read_agent
from ._cli_support import Home, user_errors
from ._exceptions import UsageError
from .events import Event, open_sqlite_log
from .memory import (
    AgentState,
    ChatMessage,
    compile_context,
    context_usage,
    estimate_messages,
    fold_all,
)

__all__ = ["replay"]

_FIRST_LINE = 100


@click.command()
@click.argument("name")
@click.option("--until", type=click.IntRange(min=1), help="Fold the log up to this seq.")
@click.pass_obj
def replay(home: Home, name: str, until: int | None) -> None:
    """Show agent NAME as it was at --until (default: now), from its log alone.

    Core memory, the summary, recall and archival counts, what fills the context
    window, and the window itself: each message as the model saw it, with its
    estimated tokens.
    """
    with user_errors():
        check_name(name)
        events, state = anyio.run(_fold, home, name, until)
    for line in format_report(agent_report(name, events, state)):
        click.echo(line)
    click.echo("")
    usage = context_usage(state)
    click.echo(f"context window at seq {state.last_seq}: ~{usage.total:,} tokens")
    for part in usage.parts:
        label = part.label if part.messages is None else f"{part.label} ({part.messages})"
        click.echo(f"  {label:<40} {part.tokens:>8,}")
    click.echo("")
    for message in compile_context(state, archival_count=state.archival_count).messages:
        click.echo(_line(message))


async def _fold(home: Home, name: str, until: int | None) -> tuple[list[Event], AgentState]:
    if not home.log.exists():
        raise UsageError(f"no event log at {home.log}")
    async with open_sqlite_log(home.log) as log:
        events, _ = await read_agent(log, name)
    if until is not None:
        if until > len(events):
            raise UsageError(f"{name!r} has {len(events)} events: --until {until} is past the end")
        events = events[:until]
    return events, fold_all(events)


def _line(message: ChatMessage) -> str:
    text = " ".join((message.content or "").split())
    calls = ", ".join(f"{c.name}({c.arguments})" for c in message.tool_calls)
    shown = " ".join(part for part in (text, calls and f"→ {calls}") if part)
    if len(shown) > _FIRST_LINE:
        shown = shown[: _FIRST_LINE - 1] + "…"
    tokens = estimate_messages([message])
    return f"  [{message.role:<9}] {tokens:>6,}  {shown}"
