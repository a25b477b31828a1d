"""``memvisor fork|diff|export|import``: agents' logs copied, compared and carried elsewhere.

```
fork NAME --at SEQ --as NEW  ──► NAME's events 1..SEQ as NEW's log (seq 1 records forked_from)
diff A B                     ──► first_difference ──► exit 0 same, 1 different, 2 error
export NAME -o FILE.jsonl    ──► export_lines ──► FILE (written aside, then renamed) or stdout
       [--prompts]                (with the prompts the agent sent, from the prompt store)
import FILE.jsonl [--as NEW] ──► parse_export (every line checked) ──► one append, or nothing
```

Only the event log travels (and, exported with ``--prompts``, the prompts the
agent sent): archival passages (HOME/archival) are neither copied by a fork nor
exported. Nothing here talks to an LLM, and no command
writes to the agent it reads from. ``diff``, ``export`` and ``fork`` never
create a log where there is none.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import anyio
import click
import msgspec

from ._cli_session import agent_events, read_events, stored_prompts
from ._cli_support import Home, user_errors
from ._exceptions import ConfigError, ConflictError, EventDecodeError, UsageError
from ._names import check_name
from .events import (
    Difference,
    Event,
    EventLog,
    ExportedLog,
    ExportedPrompt,
    LLMResponded,
    event_type,
    export_lines,
    first_difference,
    fork_events,
    open_prompt_store,
    open_sqlite_log,
    parse_export,
    rename,
)
from .memory._messages import format_time

__all__ = ["diff", "export", "fork", "import_"]

_VALUE_WIDTH = 160
"""Characters of a field's value shown by ``diff`` for a field both events share."""

# --- fork ------------------------------------------------------------------------------


@click.command()
@click.argument("name")
@click.option(
    "--at",
    "at_seq",
    type=click.IntRange(min=1),
    required=True,
    metavar="SEQ",
    help="Last event to copy.",
)
@click.option(
    "--as", "new_name", required=True, metavar="NEW", help="The new agent (must not exist)."
)
@click.pass_obj
def fork(home: Home, *, name: str, at_seq: int, new_name: str) -> None:
    """Create agent NEW from NAME's log up to seq SEQ; NAME is left untouched.

    NEW is NAME as it was at SEQ: chat with it (another --model, another prompt, a
    memory edit) and it goes its own way. Its first event records
    forked_from=NAME@SEQ. Archival passages are not copied.
    """
    with user_errors():
        check_name(new_name)
        _require_log(home, name)
        copies, total = anyio.run(_fork, home.log, name, at_seq, new_name)
    click.echo(
        f"forked {name!r} at seq {at_seq} (of {total}) as {new_name!r}: {len(copies)} events"
        f" copied, forked_from={name}@{at_seq}; {name!r} is unchanged"
    )
    for note in fork_notes(copies):
        click.echo(f"note: {note}")
    click.echo(f"next: memvisor --home {home.path} chat {new_name}")


async def _fork(path: Path, name: str, at_seq: int, new_name: str) -> tuple[list[Event], int]:
    async with open_sqlite_log(path) as log:
        events = await agent_events(log, name)
        copies = fork_events(events, at_seq, new_name)
        await _append_new(log, copies, hint="fork it under another name")
    return copies, len(events)


def fork_notes(copies: list[Event]) -> list[str]:
    """What a fork that ends in the middle of a turn leaves for the new agent to do.

    Folds the copies with the agent's own logic (:func:`memvisor.agent.advance`),
    which is what the agent does when it starts.
    """
    from .agent import Turn, advance
    from .memory import AgentState, fold

    state, turn = AgentState(), Turn()
    for event in copies:
        state = fold(state, event)
        turn = advance(turn, event, state)
    new = copies[0].agent
    notes = []
    if turn.running is not None:
        notes.append(
            f"the fork ends inside a function call: tool_called {turn.running.name!r}"
            f" (seq {turn.running.seq}) has no tool_returned. {new!r} recovers it before its"
            " next message (runs it again if that is safe, else tells the model it was"
            " interrupted)"
        )
    if turn.calls:
        names = ", ".join(call.name for call in turn.calls)
        notes.append(
            f"the llm_responded at seq {turn.response} asked for calls not made yet ({names}):"
            f" {new!r} makes them before its next message"
        )
    elif turn.running is None and turn.again:
        notes.append(
            f"the fork ends in the middle of a turn: {new!r} takes its next step before its"
            " next message"
        )
    return notes


# --- diff ------------------------------------------------------------------------------


@click.command()
@click.argument("a")
@click.argument("b")
@click.pass_obj
def diff(home: Home, *, a: str, b: str) -> None:
    """Show where the logs of agents A and B first differ, and what follows in each.

    Events are compared whole except for the agent's name, the time and
    forked_from, so a fork and its original agree up to the fork point. Exit
    status as diff(1): 0 the logs are the same, 1 they differ, 2 an error.
    """
    with _exit_2_on_error(), user_errors():
        _require_log(home, a)
        events_a, events_b = anyio.run(_read_pair, home.log, a, b)
    difference = first_difference(events_a, events_b)
    if difference is None:
        click.echo(
            f"{a!r} and {b!r} are the same: {len(events_a)} events"
            " (agent names, times and forked_from aside)"
        )
        return
    for line in format_difference(difference, a, b):
        click.echo(line)
    sys.exit(1)


@contextlib.contextmanager
def _exit_2_on_error() -> Iterator[None]:
    """diff(1)'s convention: an error exits 2, since 1 means "different"."""
    try:
        yield
    except SystemExit as exc:
        raise SystemExit(2 if exc.code == 1 else exc.code) from None


async def _read_pair(path: Path, a: str, b: str) -> tuple[list[Event], list[Event]]:
    async with open_sqlite_log(path) as log:
        return await agent_events(log, a), await agent_events(log, b)


def format_difference(difference: Difference, a: str, b: str) -> list[str]:
    """``diff``'s report of ``difference`` between agents ``a`` and ``b``, as lines."""
    lines = [f"first difference at seq {difference.seq}:"]
    width = max(len(a), len(b))
    for side, name, event in (("A", a, difference.a), ("B", b, difference.b)):
        label = f"{side} {name:<{width}}"
        if event is None:
            lines.append(f"  {label}  (its log ends at seq {difference.seq - 1})")
            continue
        lines.append(f"  {label}  {event_type(event)}  at {format_time(event.at)}")
        lines += [f"      {line}" for line in _fields(event, difference.fields)]
    if difference.fields and difference.fields != ("type",):
        lines.append(f"  differs in: {', '.join(difference.fields)}")
    lines += [
        "from there on:",
        f"  A {a:<{width}}  {difference.after('A')}",
        f"  B {b:<{width}}  {difference.after('B')}",
    ]
    return lines


def _fields(event: Event, differing: tuple[str, ...]) -> list[str]:
    """``name: value`` for each field other than agent, seq and at; a differing field
    is marked ``*`` and shown whole, the others cut to a readable width."""
    lines = []
    for name, value in msgspec.structs.asdict(event).items():
        if name in ("agent", "seq", "at") or value in (None, (), ""):
            continue
        text = repr(value)
        if name in differing:
            lines.append(f"* {name}: {text}")
        else:
            cut = text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 1] + "…"
            lines.append(f"  {name}: {cut}")
    return lines


# --- export and import -----------------------------------------------------------------


@click.command()
@click.argument("name")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    metavar="FILE.jsonl",
    help="Where to write it; - for standard output.",
)
@click.option(
    "--prompts",
    "with_prompts",
    is_flag=True,
    help="Carry the prompts the agent sent (from HOME's prompt store), so that"
    " `replay --check` on the imported log can show a changed prompt's diff.",
)
@click.pass_obj
def export(home: Home, *, name: str, output: Path, with_prompts: bool) -> None:
    """Write agent NAME's whole event log to a portable file (JSON lines).

    Line 1 is a header naming the format and its version; each further line is
    one event, as `memvisor log NAME --json` prints it. Another machine imports
    it with `memvisor import`.
    Archival passages (HOME/archival) are not exported: only the event log.
    """
    with user_errors():
        events = anyio.run(read_events, home, name)
        prompts, missing = anyio.run(_sent_prompts, home, events) if with_prompts else ([], 0)
        lines = export_lines(events, exported_at=time.time(), prompts=prompts)
        if str(output) == "-":
            stdout = sys.stdout.buffer
            stdout.writelines(lines)
            stdout.flush()
            return
        _write_whole(output, lines)
    carried = ""
    if with_prompts:
        carried = f" with {len(prompts)} prompts"
        if missing:
            carried += f" ({missing} were not in {home.prompts})"
    click.echo(f"exported {len(events)} events of {name!r} to {output}{carried}")


async def _sent_prompts(home: Home, events: list[Event]) -> tuple[list[ExportedPrompt], int]:
    """The prompts of the log's steps that the prompt store has, and how many it lacks."""
    hashes = dict.fromkeys(
        e.prompt_hash for e in events if isinstance(e, LLMResponded) and e.prompt_hash
    )
    found: list[ExportedPrompt] = []
    async with stored_prompts(home) as store:
        if store is not None:
            for prompt_hash in hashes:
                stored = await store.get(prompt_hash)
                if stored is not None:
                    found.append(ExportedPrompt(prompt_hash=prompt_hash, prompt=stored))
    return found, len(hashes) - len(found)


def _write_whole(path: Path, lines: Iterable[bytes]) -> None:
    """Write ``lines`` to ``path`` so that it holds all of them or is left as it was.

    Raises:
        ConfigError: the file cannot be written.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as file:
            file.writelines(lines)
        temporary.replace(path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None


@click.command("import")
@click.argument(
    "file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path), metavar="FILE.jsonl"
)
@click.option(
    "--as", "new_name", metavar="NEW", help="Import it as agent NEW (default: its own name)."
)
@click.pass_obj
def import_(home: Home, *, file: Path, new_name: str | None) -> None:
    """Create an agent from a file written by `memvisor export` (- reads standard input).

    Every line is checked before anything is written: a damaged file is refused
    with the number of the first bad line, and nothing is imported. The agent
    must not exist yet (--as NEW gives it another name).
    Archival passages are not part of the file: only the event log.
    """
    with user_errors():
        exported = _parse_file(file)
        name = check_name(new_name or exported.header.agent)
        events = (
            list(exported.events)
            if name == exported.header.agent
            else rename(exported.events, name)
        )
        anyio.run(_import, home, events, name, exported.prompts)
    source = exported.header.agent
    was = f" (exported as {source!r})" if source != name else ""
    carried = f" and {len(exported.prompts)} prompts" if exported.prompts else ""
    click.echo(
        f"imported agent {name!r}{was}: {len(events)} events{carried} from {file},"
        f" exported {format_time(exported.header.exported_at)}"
    )


def _parse_file(file: Path) -> ExportedLog:
    where = "standard input" if str(file) == "-" else str(file)
    try:
        if str(file) == "-":
            return parse_export(sys.stdin.buffer)
        with file.open("rb") as lines:
            return parse_export(lines)
    except OSError as exc:
        raise ConfigError(f"cannot read {where!r}: {exc.strerror or exc}") from None
    except EventDecodeError as exc:
        raise EventDecodeError(f"cannot import {where}: {exc} (nothing was imported)") from None


async def _import(
    home: Home, events: list[Event], name: str, prompts: Sequence[ExportedPrompt]
) -> None:
    async with open_sqlite_log(home.log) as log:
        await _append_new(log, events, hint="import it under another name with --as NEW")
    if prompts:
        async with open_prompt_store(home.prompts) as store:
            for exported in prompts:
                prompt = exported.prompt
                store.record(name, exported.prompt_hash, prompt.parts, prompt.tools)


# --- shared ----------------------------------------------------------------------------


def _require_log(home: Home, name: str) -> None:
    """Refuse to read ``name`` where there is no log, rather than create an empty one."""
    if not home.log.exists():
        raise UsageError(f"no agent named {name!r} (no event log at {home.log})")


async def _append_new(log: EventLog, events: list[Event], *, hint: str) -> None:
    """Append the whole log of an agent that must not exist yet."""
    name = events[0].agent
    exists = UsageError(f"an agent named {name!r} exists already: {hint}")
    if await log.last_seq(name):
        raise exists
    try:
        await log.append(events)
    except ConflictError:  # created by another process meanwhile
        raise exists from None
