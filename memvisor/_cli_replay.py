"""``memvisor replay NAME [--until SEQ] [--check]``: the agent as it was, folded from its
log alone, and the check that today's code still makes the decisions it made.

No LLM server, no archival store: everything shown is a fold of the log (the
archival count comes from the log too), so it works on a log whose server is
long gone. ``--check`` also reads the prompt store, for the diff of a prompt
that changed (and the functions the agent was offered).
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import click

from ._agent_report import agent_report, format_report
from ._cli_session import read_events, stored_prompts
from ._cli_support import Home, user_errors
from ._exceptions import UsageError
from ._names import check_name
from .agent import tools_tokens
from .events import (
    Event,
    LLMResponded,
    SqlitePromptStore,
    StoredPrompt,
)
from .llm import ToolSchema
from .memory import (
    AgentState,
    ChatMessage,
    compile_context,
    context_usage,
    estimate_messages,
    fold_all,
)
from .replay import (
    CheckReport,
    check_replay,
    decode_prompt,
    decode_tools,
    offered_tools,
    prompt_diff,
    prompt_lines,
)

__all__ = ["replay"]

_FIRST_LINE = 100


@click.command()
@click.argument("name")
@click.option("--until", type=click.IntRange(min=1), help="Fold the log up to this seq.")
@click.option(
    "--check",
    is_flag=True,
    help="Re-run the agent's logic over the log (logged LLM answers and search results"
    " instead of live calls) and exit 1 at the first different decision or prompt.",
)
@click.option(
    "--system",
    "system_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --check: check against this system prompt instead of the logged one.",
)
@click.pass_obj
def replay(
    home: Home, name: str, until: int | None, check: bool, system_file: Path | None
) -> None:
    """Show agent NAME as it was at --until (default: now), from its log alone.

    Core memory, the summary, recall and archival counts, what fills the context
    window, and the window itself: each message as the model saw it, with its
    estimated tokens.

    With --check, verify instead that today's code makes the same decisions and
    compiles the same prompts as the recorded run: a regression test for a
    recorded conversation.
    """
    if system_file is not None and not check:
        raise click.UsageError("--system goes with --check")
    if check:
        with user_errors():
            check_name(name)
            system = None if system_file is None else _read_text(system_file)
            lines, same = anyio.run(_check, home, name, until, system)
        for line in lines:
            click.echo(line)
        sys.exit(0 if same else 1)
    with user_errors():
        check_name(name)
        events, state = anyio.run(_fold, home, name, until)
    for line in format_report(agent_report(name, events, state)):
        click.echo(line)
    click.echo("")
    usage = context_usage(state, schema_tokens=tools_tokens(offered_tools(events)))
    click.echo(f"context window at seq {state.last_seq}: ~{usage.total:,} tokens")
    for part in usage.parts:
        label = part.label if part.messages is None else f"{part.label} ({part.messages})"
        click.echo(f"  {label:<40} {part.tokens:>8,}")
    click.echo("")
    for message in compile_context(state, archival_count=state.archival_count).messages:
        click.echo(_line(message))


async def _fold(home: Home, name: str, until: int | None) -> tuple[list[Event], AgentState]:
    events = await read_events(home, name, until=until)
    return events, fold_all(events)


async def _check(
    home: Home, name: str, until: int | None, system: str | None
) -> tuple[list[str], bool]:
    """The check's report as lines, and whether the replay matched the log."""
    events = await read_events(home, name, until=until)
    async with stored_prompts(home) as prompts:
        tools = await _stored_tools(events, prompts)
        report = await check_replay(events, tools=tools, system=system)
        divergence = report.divergence
        sent = None
        if divergence is not None and divergence.logged_hash and prompts is not None:
            sent = await prompts.get(divergence.logged_hash)
    return _check_lines(name, report, sent, home), divergence is None


async def _stored_tools(
    events: list[Event], prompts: SqlitePromptStore | None
) -> tuple[ToolSchema, ...] | None:
    """The functions offered with the first stored prompt, if any (else the check infers)."""
    if prompts is None:
        return None
    for event in events:
        if isinstance(event, LLMResponded) and event.prompt_hash:
            stored = await prompts.get(event.prompt_hash)
            if stored is not None:
                return decode_tools(stored)
    return None


def _check_lines(
    name: str, report: CheckReport, sent: StoredPrompt | None, home: Home
) -> list[str]:
    divergence = report.divergence
    if divergence is None:
        lines = [
            f"{name}: {_count(report.events, 'event')} replayed with the same decisions:"
            f" {_count(report.steps, 'LLM step')} compiled the same prompts,"
            f" {_count(report.reran, 'function call')} run again gave the same results,"
            f" {_count(report.compactions, 'compaction')} planned the same."
        ]
        if report.unfinished:
            lines.append("(the log ends in the middle of a turn: the rest was not checked)")
        return lines
    lines = [
        f"{name} diverges at seq {divergence.seq}"
        f" (after {report.events - 1:,} events that replayed the same)",
        f"  logged:   {divergence.expected}",
        f"  produced: {divergence.produced}",
    ]
    if divergence.logged_hash:
        lines.append("")
        if sent is None:
            lines.append(
                f"The prompt that was sent is not in {home.prompts}: only its hash was"
                " logged. The prompt compiled now:"
            )
            lines += prompt_lines(divergence.prompt)
        else:
            lines.append("The prompt as it was sent (-) and as it is compiled now (+):")
            lines += prompt_diff(decode_prompt(sent), divergence.prompt)
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None


def _line(message: ChatMessage) -> str:
    text = " ".join((message.content or "").split())
    calls = ", ".join(f"{c.name}({c.arguments})" for c in message.tool_calls)
    shown = " ".join(part for part in (text, calls and f"→ {calls}") if part)
    if len(shown) > _FIRST_LINE:
        shown = shown[: _FIRST_LINE - 1] + "…"
    tokens = estimate_messages([message])
    return f"  [{message.role:<9}] {tokens:>6,}  {shown}"
